"""HTTP plumbing shared by the feature blueprints: request sessions, transactions, errors."""
