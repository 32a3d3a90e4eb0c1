"""CVs built from the passport: signed PDF, accessible HTML, JSON Resume (docs/cv.md)."""
