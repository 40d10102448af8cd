"""Yahoo Finance (through `shared.adapters.yahoo`) as a bar source and a corporate-action source."""
