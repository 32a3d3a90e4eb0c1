"""Certifications, as named by the flux (type + code), enriched from the referential."""

from __future__ import annotations

import datetime as dt

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column

from passport.db import Base, utcnow
from passport.types import json_column


class Certification(Base):
    """A certification a passage refers to; title and level come from the referential."""

    __tablename__ = "certifications"

    id: Mapped[int] = mapped_column(primary_key=True)
    type: Mapped[str] = mapped_column(sa.String(255))
    code: Mapped[str] = mapped_column(sa.String(100))
    title: Mapped[str | None] = mapped_column(sa.Text)
    level: Mapped[str | None] = mapped_column(sa.String(20))
    created_at: Mapped[dt.datetime] = mapped_column(default=utcnow)

    __table_args__ = (sa.UniqueConstraint("type", "code"),)


class ReferentialImport(Base):
    """One import of a referential file: what, which version and export, when, counts."""

    __tablename__ = "referential_imports"

    id: Mapped[int] = mapped_column(primary_key=True)
    #: ``rncp``, ``rs``, ``rncp-csv`` (France compétences) or ``rome`` (France Travail).
    kind: Mapped[str] = mapped_column(sa.String(10))
    source: Mapped[str] = mapped_column(sa.String(500))
    sha256: Mapped[str] = mapped_column(sa.String(64))
    #: ``VERSION_FLUX`` (4.1) or the ROME version (``v460``).
    version: Mapped[str] = mapped_column(sa.String(20))
    export_date: Mapped[dt.date | None]
    counts: Mapped[dict[str, int]] = mapped_column(json_column(), default=dict)
    started_at: Mapped[dt.datetime] = mapped_column(default=utcnow)
    finished_at: Mapped[dt.datetime | None]


class Sheet(Base):
    """An RNCP or RS sheet of France compétences (the subset the passport needs)."""

    __tablename__ = "referential_sheets"

    numero: Mapped[str] = mapped_column(sa.String(20), primary_key=True)
    #: ``RNCP`` or ``RS``.
    repertoire: Mapped[str] = mapped_column(sa.String(4))
    title: Mapped[str] = mapped_column(sa.Text)
    type_code: Mapped[str | None] = mapped_column(sa.String(40))
    type_label: Mapped[str | None] = mapped_column(sa.String(255))
    #: EQF level 1–8 (None: no level, e.g. every RS sheet).
    eqf_level: Mapped[int | None]
    active: Mapped[bool]
    state: Mapped[str | None] = mapped_column(sa.String(60))
    registration_type: Mapped[str | None] = mapped_column(sa.String(60))
    valid_from: Mapped[dt.date | None]
    registration_end: Mapped[dt.date | None]
    delivery_deadline: Mapped[dt.date | None]
    attested_skills_text: Mapped[str | None] = mapped_column(sa.Text)
    rome_codes: Mapped[list[str]] = mapped_column(json_column(), default=list)
    formacodes: Mapped[list[dict[str, str]]] = mapped_column(json_column(), default=list)
    nsf: Mapped[list[dict[str, str]]] = mapped_column(json_column(), default=list)
    predecessors: Mapped[list[str]] = mapped_column(json_column(), default=list)
    successors: Mapped[list[str]] = mapped_column(json_column(), default=list)
    #: Official bloc equivalences: [{"bloc", "sheet", "equivalent_bloc"}].
    bloc_equivalences: Mapped[list[dict[str, str]]] = mapped_column(json_column(), default=list)
    #: SHA-256 of the sheet's canonical content (an unchanged sheet is not rewritten).
    content_hash: Mapped[str] = mapped_column(sa.String(64))
    import_id: Mapped[int] = mapped_column(sa.ForeignKey("referential_imports.id"))
    export_date: Mapped[dt.date | None]
    #: Only an index entry (CSV export): no blocs text, no attested skills.
    from_csv: Mapped[bool] = mapped_column(default=False)


class SheetCertifier(Base):
    """A certifier listed on a sheet (SIRET missing on about a third of rows)."""

    __tablename__ = "referential_sheet_certifiers"

    id: Mapped[int] = mapped_column(primary_key=True)
    numero: Mapped[str] = mapped_column(sa.ForeignKey("referential_sheets.numero"), index=True)
    siret: Mapped[str | None] = mapped_column(sa.String(14), index=True)
    name: Mapped[str] = mapped_column(sa.String(500))
    active: Mapped[bool | None]


class SheetBlock(Base):
    """A bloc of competences of an RNCP sheet, in the sheet's order (codes are not stable
    between versions of a sheet: blocs are matched by title when that matters)."""

    __tablename__ = "referential_sheet_blocks"

    id: Mapped[int] = mapped_column(primary_key=True)
    numero: Mapped[str] = mapped_column(sa.ForeignKey("referential_sheets.numero"), index=True)
    position: Mapped[int]
    code: Mapped[str] = mapped_column(sa.String(40))
    title: Mapped[str] = mapped_column(sa.Text)
    #: The option the bloc belongs to, when its title names one ("Option A …").
    option_label: Mapped[str | None] = mapped_column(sa.String(255))
    competences_text: Mapped[str | None] = mapped_column(sa.Text)
    #: The competences, only when the text is in a format we parse without guessing.
    competences: Mapped[list[str] | None] = mapped_column(json_column())


class RomeJob(Base):
    """A ROME 4.0 job sheet (``unix_referentiel_code_rome``)."""

    __tablename__ = "rome_jobs"

    code_rome: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    code_ogr: Mapped[int]
    label: Mapped[str] = mapped_column(sa.String(500))
    parent: Mapped[str | None] = mapped_column(sa.String(5))
    version: Mapped[str] = mapped_column(sa.String(10))


class RomeDomain(Base):
    """A professional domain (letter + 2 digits: ``A15`` Soins aux animaux)."""

    __tablename__ = "rome_domains"

    code: Mapped[str] = mapped_column(sa.String(3), primary_key=True)
    label: Mapped[str] = mapped_column(sa.String(500))
    version: Mapped[str] = mapped_column(sa.String(10))


class RomeItem(Base):
    """A ROME 4.0 compétence, macro-compétence or savoir, by its global ``code_ogr``."""

    __tablename__ = "rome_items"

    code_ogr: Mapped[int] = mapped_column(primary_key=True)
    #: ``competence``, ``macro`` or ``savoir``.
    nature: Mapped[str] = mapped_column(sa.String(12))
    label: Mapped[str] = mapped_column(sa.Text)
    #: Savoir-faire or savoir-être professionnel (compétences); a savoir's category.
    category: Mapped[str | None] = mapped_column(sa.String(255))
    sub_category: Mapped[str | None] = mapped_column(sa.String(255))
    #: A compétence's macro-compétence (its code_ogr) and the macro's functional code
    #: (``2D105``: domaine 2, enjeu 2D, objectif 2D1).
    macro_ogr: Mapped[int | None]
    macro_code: Mapped[str | None] = mapped_column(sa.String(10))
    version: Mapped[str] = mapped_column(sa.String(10))


class RomeLink(Base):
    """ROME job → item of its section 5 (savoir-faire, savoir-être, savoirs), flagged
    ``Principale`` / ``Émergente`` by ``unix_coherence_item``."""

    __tablename__ = "rome_links"

    code_rome: Mapped[str] = mapped_column(sa.String(5), primary_key=True)
    code_ogr: Mapped[int] = mapped_column(primary_key=True)
    #: 1 savoir-faire, 2 savoir-être professionnels, 3 savoirs.
    rubrique: Mapped[int]
    coeur_metier: Mapped[str | None] = mapped_column(sa.String(20))
    version: Mapped[str] = mapped_column(sa.String(10))


class RomeTreeLabel(Base):
    """Labels of the competence tree (domaines, enjeux, objectifs), from the arborescence
    file when it is imported."""

    __tablename__ = "rome_tree_labels"

    code: Mapped[str] = mapped_column(sa.String(10), primary_key=True)
    #: ``domaine``, ``enjeu`` or ``objectif``.
    level: Mapped[str] = mapped_column(sa.String(10))
    label: Mapped[str] = mapped_column(sa.String(500))
    version: Mapped[str] = mapped_column(sa.String(10))
