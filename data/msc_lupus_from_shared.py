"""How data/trials/msc_lupus.csv was made (issue 17; run once from the repository root, not part of
the workflow or the tests): ../shared/data/msc_lupus_studies.csv (the curated table, with its README)
-> data/trials/msc_lupus.csv in the input schema. Numbers are copied cell by cell; outcome labels
are harmonised only where the definitions agree (MAP; see data/README.md, MSC section); rows that
cannot be expressed are skipped (SKIP); one DERIVED row is added (Ranjbar 2022 renal remission 7/9).
"""

import csv

SRC = "../shared/data/msc_lupus_studies.csv"
rows = list(csv.DictReader(open(SRC, encoding="utf-8")))
COLS = [
    "study_id",
    "therapy",
    "therapy_class",
    "comparator",
    "condition",
    "outcome",
    "timepoint_weeks",
    "outcome_type",
    "events_treat",
    "n_treat",
    "events_ctrl",
    "n_ctrl",
    "mean_treat",
    "sd_treat",
    "mean_ctrl",
    "sd_ctrl",
    "mean_baseline",
    "sd_baseline",
    "mean_followup",
    "sd_followup",
    "n",
    "higher_is_better",
    "year",
    "cohort_id",
    "design",
    "msc_source",
    "dose",
    "source_url",
    "notes",
]
CLASS = "mesenchymal stem/stromal cells (allogeneic MSC)"
SLE, LN = "systemic lupus erythematosus", "lupus nephritis"
NANJING = "nanjing-sun-msct"
# (study, source outcome) -> (condition, harmonised outcome, higher_is_better, cohort)
MAP = {
    ("Deng 2017", "remission of nephritis (combined partial + complete)"): (
        LN,
        "renal remission (complete + partial)",
        "true",
    ),
    ("Deng 2017", "complete remission of nephritis"): (LN, "complete renal remission", "true"),
    ("Deng 2017", "SLEDAI change from baseline"): (LN, "SLEDAI change from baseline", "false"),
    ("Deng 2017", "24-h urine protein change from baseline (g/24 h)"): (
        LN,
        "24-h urine protein change from baseline (g/24 h)",
        "false",
    ),
    ("Deng 2017", "24-h urine protein at 6 months (g/24 h)"): (
        LN,
        "24-h urine protein at 6 months (g/24 h)",
        "false",
    ),
    ("Deng 2017", "SLEDAI score >8 at 6 months (unfavourable)"): (
        LN,
        "SLEDAI score >8 at 6 months (unfavourable)",
        "false",
    ),
    ("Deng 2017", "death (safety)"): (LN, "death (safety)", "false"),
    ("Wang 2014", "major clinical response (MCR)"): (
        SLE,
        "major clinical response (Sun-group criteria)",
        "true",
    ),
    ("Wang 2014", "partial clinical response (PCR)"): (
        SLE,
        "partial clinical response / remission (Sun-group criteria)",
        "true",
    ),
    ("Wang 2014", "overall clinical response (MCR + PCR)"): (
        SLE,
        "clinical response / remission, complete + partial (Sun-group criteria)",
        "true",
    ),
    ("Liang 2010", "SLEDAI score"): (SLE, "SLEDAI change from baseline", "false"),
    ("Liang 2010", "24-h proteinuria (mg/24 h)"): (
        SLE,
        "24-h proteinuria change from baseline (mg/24 h)",
        "false",
    ),
    ("Liang 2010", "relapse of proteinuria"): (SLE, "relapse of proteinuria", "false"),
    ("Gu 2014", "renal remission (complete + partial)"): (
        LN,
        "renal remission (complete + partial)",
        "true",
    ),
    ("Gu 2014", "renal flare after prior remission"): (
        LN,
        "renal flare among patients in remission",
        "false",
    ),
    ("Wang 2013 (4-year cohort; author/year see notes)", "complete clinical remission"): (
        SLE,
        "complete clinical remission (Sun-group criteria)",
        "true",
    ),
    ("Wang 2013 (4-year cohort; author/year see notes)", "relapse"): (SLE, "relapse", "false"),
    ("Wang 2018", "complete clinical remission"): (
        SLE,
        "complete clinical remission (Sun-group criteria)",
        "true",
    ),
    ("Wang 2018", "partial clinical remission"): (
        SLE,
        "partial clinical response / remission (Sun-group criteria)",
        "true",
    ),
    ("Wang 2018", "clinical remission (complete + partial)"): (
        SLE,
        "clinical response / remission, complete + partial (Sun-group criteria)",
        "true",
    ),
    (
        "Kamen 2022",
        "SRI-4 response (no new BILAG A, PGA not worse >0.3, prednisone ≤10 mg by week 20)",
    ): (SLE, "SRI-4 response", "true"),
    ("Ranjbar 2022", "complete renal response (proteinuria <0.5 g/24 h)"): (
        LN,
        "complete renal remission",
        "true",
    ),
    ("Ranjbar 2022", "partial renal response (>50% fall in proteinuria, still >0.5 g/24 h)"): (
        LN,
        "partial renal remission",
        "true",
    ),
    ("Barbado 2018", "complete remission (SLEDAI-based)"): (
        LN,
        "complete remission, SLEDAI-based",
        "true",
    ),
    ("Barbado 2018", "any remission (complete + partial, SLEDAI-based)"): (
        LN,
        "remission, complete + partial, SLEDAI-based",
        "true",
    ),
    ("Bao 2023", "sustained renal remission at 3-year follow-up"): (
        LN,
        "sustained renal remission (3-year follow-up)",
        "true",
    ),
}
PROGRAMME = {"Wang 2014", "Liang 2010", "Gu 2014", "Wang 2013", "Wang 2018", "Bao 2023"}
SKIP = {
    ("Gu 2014", "renal BILAG score"): "n analysed not stated",
    ("Gu 2014", "glomerular filtration rate (mL/min)"): "n analysed not stated",
    ("Ranjbar 2022", "SLEDAI (median only)"): "medians only",
}


def weeks(months, study):
    if study == "Kamen 2022":
        return "20"  # the source gives 'by 20 weeks'
    return str(round(float(months) * 365.25 / 12 / 7))


out = []
for r in rows:
    key = (r["study_id"], r["outcome"])
    if key in SKIP:
        continue
    cond, outcome, hib = MAP[key]
    sid = "Wang 2013" if r["study_id"].startswith("Wang 2013") else r["study_id"]
    o = {c: "" for c in COLS}
    o.update(
        study_id=sid,
        therapy=r["therapy"],
        therapy_class=CLASS,
        comparator=r["comparator"],
        condition=cond,
        outcome=outcome,
        timepoint_weeks=weeks(r["timepoint_months"], sid),
        outcome_type=r["outcome_type"],
        higher_is_better=hib,
        year=r["year"],
        design=r["design"],
        msc_source=r["msc_source"],
        dose=r["dose"],
        source_url=r["source_url"],
    )
    for c in (
        "events_treat",
        "n_treat",
        "events_ctrl",
        "n_ctrl",
        "mean_treat",
        "sd_treat",
        "mean_ctrl",
        "sd_ctrl",
        "mean_baseline",
        "sd_baseline",
        "mean_followup",
        "sd_followup",
    ):
        o[c] = r[c]
    if r["outcome_type"] == "single_arm_change":
        o["n"], o["n_treat"] = r["n"], ""
    if sid == "Wang 2013" and r["timepoint_months"] == "24":
        o["outcome"] = outcome = (
            "complete clinical remission, 2-year follow-up (Sun-group criteria)"
        )
    if sid in PROGRAMME:
        o["cohort_id"] = NANJING
    note = r["notes"]
    if sid == "Wang 2013":
        note = "Source study_id: 'Wang 2013 (4-year cohort; author/year see notes)'. " + note
    if r["outcome"] != outcome:
        note += f" [Source outcome label: '{r['outcome']}'; harmonised to '{outcome}' (data/README.md, MSC section).]"
    note += f" [Source row: ../shared/data/msc_lupus_studies.csv, timepoint {r['timepoint_months']} months = {o['timepoint_weeks']} weeks.]"
    o["notes"] = note
    out.append(o)
# Ranjbar 2022 overall renal response: DERIVED sum of the two printed categories
cr = next(
    o for o in out if o["study_id"] == "Ranjbar 2022" and o["outcome"] == "complete renal remission"
)
o = dict(cr)
o.update(
    outcome="renal remission (complete + partial)",
    events_treat="7",
    notes="DERIVED: complete renal response 3/9 + partial renal response 4/9 = 7/9 (mutually exclusive categories of the same abstract sentence: 'complete renal response (proteinuria < 0.5 g/24 h) and partial response ... were observed in 33.3% and 44.4% of the patients'; 33.3% x 9 = 3, 44.4% x 9 = 4). Best response within the first 3 months ('these rates declined thereafter'). Curr Res Transl Med 2022;70:103324 abstract. [Not a row of ../shared/data/msc_lupus_studies.csv; its README: 'Overall renal response would be 7/9 (derived, not printed)'.]",
)
out.append(o)
with open("data/trials/msc_lupus.csv", "w", encoding="utf-8", newline="") as fh:
    w = csv.DictWriter(fh, COLS)
    w.writeheader()
    w.writerows(out)
print(len(out))
