"""Table Storage persistence: the only package that imports azure.data.tables."""
