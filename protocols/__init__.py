"""Built-in protocols, one file per protocol or family; bench finds every module here."""
