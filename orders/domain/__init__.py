"""The order domain core: commands, events, the Order aggregate and its handlers. No Django here."""
