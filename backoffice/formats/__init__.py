"""Date and time formats of the pages Django renders (the admin's): UTC with seconds, sortable."""
