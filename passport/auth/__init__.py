"""Identity and access: our OAuth 2.0 / OIDC authorization server, the upstream relying
party (FranceConnect, ProConnect), the resource server and object-level authorisation."""
