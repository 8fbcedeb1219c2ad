"""The contract's shapes and what every connector declares: fields, schemas, models, supported types, forms, URIs."""
