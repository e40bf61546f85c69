"""The back office: the Django admin staff run the business from, through the API's services."""
