"""The DigComp 2.2 framework: 5 domains, 21 competences (names in French, as used by Pix)."""

from __future__ import annotations

DOMAINS = {
    1: "Informations et données",
    2: "Communication et collaboration",
    3: "Création de contenus",
    4: "Protection et sécurité",
    5: "Environnement numérique",
}

COMPETENCES = {
    (1, 1): "Mener une recherche et une veille d'information",
    (1, 2): "Évaluer des données, des informations et des contenus numériques",
    (1, 3): "Gérer des données",
    (2, 1): "Interagir",
    (2, 2): "Partager et publier",
    (2, 3): "S'insérer dans le monde numérique (citoyenneté)",
    (2, 4): "Collaborer",
    (2, 5): "Respecter la nétiquette",
    (2, 6): "Gérer son identité numérique",
    (3, 1): "Développer des documents textuels et multimédia",
    (3, 2): "Adapter les documents à leur finalité (intégrer, réélaborer)",
    (3, 3): "Respecter le droit d'auteur et les licences",
    (3, 4): "Programmer",
    (4, 1): "Sécuriser l'environnement numérique",
    (4, 2): "Protéger les données personnelles et la vie privée",
    (4, 3): "Protéger la santé et le bien-être",
    (4, 4): "Protéger l'environnement",
    (5, 1): "Résoudre des problèmes techniques",
    (5, 2): "Identifier les besoins et les réponses technologiques",
    (5, 3): "Utiliser le numérique de manière créative",
    (5, 4): "Identifier les lacunes de ses compétences numériques",
}


def named_results(results: list[dict[str, int]] | None) -> list[dict[str, object]]:
    """Stored DigComp results with the competence and domain names."""
    return [
        {
            "domain": r["domaine"],
            "domain_name": DOMAINS.get(r["domaine"], ""),
            "competence": f"{r['domaine']}.{r['competence']}",
            "name": COMPETENCES.get((r["domaine"], r["competence"]), ""),
            "level": r["niveau"],
        }
        for r in sorted(results or [], key=lambda r: (r["domaine"], r["competence"]))
    ]
