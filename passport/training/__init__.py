"""CPF training files ("dossiers de formation"), for NIRisation and success rates."""
