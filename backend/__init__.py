"""quietmile backend: the tax authority's registry, tariffs, statement ingest and receipts."""
