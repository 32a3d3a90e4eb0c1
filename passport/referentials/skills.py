"""A holder's skills, each with the chain that produced it.

Sources, from the most to the least direct:

* **RNCP blocs** of the holder's sheets (filtered by the passage's option when bloc titles
  name options): each competence of a bloc when its list splits cleanly, else the bloc;
* **RS attested capacities** (``CAPACITES_ATTESTEES``), split the same way, else raw;
* **DigComp** results and **CECRL** levels the certifier sent in the flux;
* **ROME 4.0**, through the sheet's ROME codes: the job's compétences (savoir-faire,
  savoir-être) and savoirs, principal before emerging, with their macro-compétence, domain,
  enjeu and objectif — marked *inferred* (the sheet names jobs, not these skills);
* **declared** skills (the holder's own, never mixed with attested ones).

The same skill reached through several certifications or jobs is listed once, with each
chain.
"""

from __future__ import annotations

from collections import defaultdict
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from passport.records import service as records
from passport.records.digcomp import named_results
from passport.records.models import Declaration, DeclarationKind, Passage
from passport.referentials import service as referentials
from passport.referentials.competences import parse_competences
from passport.referentials.models import RomeItem, RomeJob, RomeLink, RomeTreeLabel, SheetBlock
from passport.referentials.rome import DOMAINS

KIND_BY_RUBRIQUE = {1: "savoir_faire", 2: "savoir_etre", 3: "savoir"}
FLAG_RANK = {"Principale": 0, "Émergente": 1, None: 2}


def _words(step: dict[str, Any]) -> str:
    kind, code, label, detail = step["step"], step.get("code"), step.get("label"), step.get(
        "detail")
    if kind == "rome":
        return f"ROME {code}" + (f" ({detail})" if detail else "")
    if kind == "item":
        return detail or label or ""
    if kind == "option":
        return f"option {label}"
    if kind == "digcomp":
        return f"DigComp {code} ({detail})"
    if kind == "declaration":
        return f"déclaré par vous ({label})"
    return code or label or ""


def _chain(steps: list[dict[str, Any]], **ids: Any) -> dict[str, Any]:
    """A chain of steps, and the same in words: ``RNCP37488 → ROME M1810 (principale) →
    compétence 109971``."""
    text = " → ".join(_words(s) for s in steps)
    return {"steps": steps, "text": text, "certification_id": ids.get("certification_id"),
            "declaration_id": ids.get("declaration_id")}


class _Skills:
    def __init__(self) -> None:
        self.by_key: dict[tuple[Any, ...], dict[str, Any]] = {}

    def add(self, key: tuple[Any, ...], skill: dict[str, Any], chain: dict[str, Any]) -> None:
        found = self.by_key.get(key)
        if found is None:
            found = self.by_key[key] = {**skill, "chains": []}
        if chain["text"] not in {c["text"] for c in found["chains"]}:
            found["chains"].append(chain)


def holder_skills(db: Session, holder_id: int, *, include_hidden: bool = False,
                  source: str | None = None) -> dict[str, Any]:
    """The holder's skills and the referential versions they come from."""
    query = records.certification_query(holder_id).where(Passage.withdrawn_at.is_(None))
    if not include_hidden:
        query = query.where(Passage.hidden.is_(False))
    rows = db.execute(query.order_by(Passage.date_debut_validite.desc(), Passage.id)).all()
    codes = {row[1].code for row in rows}
    sheets = referentials.sheets(db, codes)
    blocks: dict[str, list[SheetBlock]] = defaultdict(list)
    if sheets:
        for b in db.scalars(sa.select(SheetBlock).where(SheetBlock.numero.in_(list(sheets)))
                            .order_by(SheetBlock.numero, SheetBlock.position)):
            blocks[b.numero].append(b)
    out = _Skills()
    for passage, certification, _name, _received in rows:
        start = {"step": "certification", "code": certification.code,
                 "label": certification.title}
        ids = {"certification_id": passage.id}
        sheet = sheets.get(certification.code)
        if sheet is not None and sheet.repertoire == "RNCP":
            option = passage.libelle_option
            for bloc in referentials.blocks_for(blocks[sheet.numero], option):
                prefix = [start]
                if option and bloc.option_label:
                    prefix.append({"step": "option", "label": option})
                prefix.append({"step": "bloc", "code": bloc.code, "label": bloc.title})
                items = bloc.competences or ([] if bloc.competences_text is None
                                             else None)
                if items:
                    for item in items:
                        out.add(("bloc", item), {"label": item, "source": "rncp_bloc",
                                                 "attestation": "garanti"},
                                _chain([*prefix, {"step": "item", "label": item}], **ids))
                else:
                    out.add(("bloc", bloc.title), {
                        "label": bloc.title, "source": "rncp_bloc", "attestation": "garanti",
                        "text": bloc.competences_text}, _chain(prefix, **ids))
        if sheet is not None and sheet.attested_skills_text and sheet.repertoire == "RS":
            items = parse_competences(sheet.attested_skills_text)
            if items:
                for item in items:
                    out.add(("rs", item), {"label": item, "source": "rs_capacity",
                                           "attestation": "garanti"},
                            _chain([start, {"step": "item", "label": item}], **ids))
            else:
                out.add(("rs", sheet.numero), {
                    "label": sheet.title, "source": "rs_capacity", "attestation": "garanti",
                    "text": sheet.attested_skills_text}, _chain([start], **ids))
        if passage.digcomp_resultats:
            for r in named_results(passage.digcomp_resultats):
                label = f"{r['competence']} {r['name']}"
                out.add(("digcomp", r["competence"], r["level"]), {
                    "label": label, "source": "digcomp", "attestation": "garanti",
                    "level": f"niveau {r['level']} / 8",
                    "domain": {"code": str(r["domain"]), "label": r["domain_name"]}},
                    _chain([start, {"step": "digcomp", "code": str(r["competence"]),
                                    "label": r["name"], "detail": f"niveau {r['level']}"}],
                           **ids))
        if passage.niveau_langue_europeen:
            level = passage.niveau_langue_europeen
            label = f"Langue — niveau {level} (CECRL)"
            out.add(("cecrl", certification.code, level), {
                "label": label, "source": "cecrl", "attestation": "garanti", "level": level},
                _chain([start, {"step": "item", "label": label}], **ids))
        if sheet is not None:
            _rome(db, out, sheet.rome_codes, start, ids)
    for declaration in db.scalars(sa.select(Declaration).where(
            Declaration.holder_id == holder_id,
            *(() if include_hidden else (Declaration.hidden.is_(False),)))
            .order_by(Declaration.id)):
        labels = list(declaration.skills or [])
        if declaration.kind in (DeclarationKind.SKILL, DeclarationKind.LANGUAGE):
            labels.insert(0, declaration.title)
        for label in labels:
            out.add(("declared", label.strip().lower()), {
                "label": label, "source": "declared", "attestation": "declare",
                "level": declaration.level if label == declaration.title else None},
                _chain([{"step": "declaration", "code": declaration.kind.value,
                         "label": declaration.title}], declaration_id=declaration.id))
    skills = list(out.by_key.values())
    if source:
        skills = [s for s in skills if s["source"] == source]
    order = {"rncp_bloc": 0, "rs_capacity": 1, "digcomp": 2, "cecrl": 3, "rome": 4,
             "declared": 5}
    skills.sort(key=lambda s: (order[s["source"]], (s.get("domain") or {}).get("code") or "",
                               (s.get("macro") or {}).get("code") or "",
                               0 if s.get("principal") else 1 if s.get("emerging") else 2,
                               s["label"]))
    return {"referentials": referentials.loaded(db), "skills": skills,
            "certifications_unknown": sorted(codes - set(sheets))}


def _rome(db: Session, out: _Skills, codes: list[str], start: dict[str, Any],
          ids: dict[str, Any]) -> None:
    """The ROME 4.0 compétences and savoirs of the sheet's jobs (inferred)."""
    if not codes:
        return
    jobs = {j.code_rome: j for j in db.scalars(sa.select(RomeJob).where(
        RomeJob.code_rome.in_(codes)))}
    if not jobs:
        return
    links = db.execute(sa.select(RomeLink, RomeItem).join(
        RomeItem, RomeItem.code_ogr == RomeLink.code_ogr).where(
        RomeLink.code_rome.in_(list(jobs)))).all()
    macro_ids = {item.macro_ogr for _, item in links if item.macro_ogr}
    macros = {m.code_ogr: m for m in db.scalars(sa.select(RomeItem).where(
        RomeItem.code_ogr.in_(macro_ids)))} if macro_ids else {}
    labels = {t.code: t.label for t in db.scalars(sa.select(RomeTreeLabel))}
    for link, item in links:
        job = jobs[link.code_rome]
        macro = macros.get(item.macro_ogr) if item.macro_ogr else (
            item if item.nature == "macro" else None)
        code = macro.macro_code if macro is not None else None
        skill: dict[str, Any] = {
            "label": item.label, "source": "rome", "attestation": "infere",
            "kind": KIND_BY_RUBRIQUE.get(link.rubrique), "code_ogr": item.code_ogr,
            "principal": link.coeur_metier == "Principale",
            "emerging": link.coeur_metier == "Émergente",
            "macro": {"code": code, "label": macro.label} if macro is not None else None,
            "domain": {"code": code[0], "label": labels.get(code[0], DOMAINS.get(code[0]))}
            if code else ({"code": None, "label": item.category} if item.nature == "savoir"
                          else None),
            "enjeu": {"code": code[:2], "label": labels.get(code[:2])} if code else None,
            "objectif": {"code": code[:3], "label": labels.get(code[:3])} if code else None,
        }
        flag = {"Principale": "principale", "Émergente": "émergente"}.get(link.coeur_metier or "")
        steps = [start, {"step": "rome", "code": job.code_rome, "label": job.label,
                         "detail": flag},
                 {"step": "item", "code": str(item.code_ogr), "label": item.label,
                  "detail": {"competence": "compétence", "macro": "macro-compétence",
                             "savoir": "savoir"}[item.nature] + f" {item.code_ogr}"}]
        key = ("rome", item.code_ogr)
        previous = out.by_key.get(key)
        if previous is not None:  # principal through one job stays principal
            skill["principal"] = skill["principal"] or previous["principal"]
            skill["emerging"] = (skill["emerging"] or previous["emerging"]) and not skill[
                "principal"]
            previous.update({k: skill[k] for k in ("principal", "emerging")})
        out.add(key, skill, _chain(steps, **ids))
