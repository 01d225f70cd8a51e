## Reference numbers for trialmeta's continuity-correction options and degenerate MH / Peto inputs.
## Run from the repository root:  Rscript tests/reference_extra/generate_continuity.R
## Writes tests/reference_extra/continuity.json.
## * escalc(measure = OR/RR/RD, ai, n1i, ci, n2i, add = <add>, to = <to>, drop00 = <drop00>) on the
##   reference trials.csv analyses that contain zero cells (closed form: compare at 1e-10 relative);
##   NA (dropped) and non-finite values are written as null / "Inf" / "-Inf".
## * rma.mh / rma.peto (defaults) on small hand-made sets of tables: a single table, a set in which
##   only one table is not double-zero (k.yi = 1), tables with events in one arm only.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/continuity.json"
ref <- "tests/reference"
num <- function(x) { x <- as.numeric(x); lapply(x, function(v) if (is.na(v)) NULL else if (is.infinite(v)) (if (v > 0) "Inf" else "-Inf") else v) }
cases <- list(
  list(ds = "dat.nielweise2007", outcome = "catheter-related"),
  list(ds = "dat.collins1985b", outcome = "perinatal death"),
  list(ds = "dat.li2007", outcome = NULL),
  list(ds = "dat.axfors2021", outcome = NULL)
)
res <- list(generated_with = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                                  script = "tests/reference_extra/generate_continuity.R"),
            escalc = list(), pooled = list())
for (cs in cases) {
  d <- read.csv(file.path(ref, cs$ds, "trials.csv"), stringsAsFactors = FALSE, na.strings = "")
  d <- d[d$outcome_type == "binary", ]
  if (!is.null(cs$outcome)) d <- d[grepl(cs$outcome, d$outcome, fixed = TRUE), ]
  for (to in c("only0", "all", "if0all", "none")) for (add in c(0.5, 0.25)) for (drop00 in c(FALSE, TRUE))
    for (m in c("OR", "RR", "RD")) {
      e <- suppressWarnings(escalc(measure = m, ai = d$events_treat, n1i = d$n_treat, ci = d$events_ctrl,
                                   n2i = d$n_ctrl, add = add, to = to, drop00 = drop00))
      res$escalc[[length(res$escalc) + 1]] <- list(
        dataset = cs$ds, outcome = unique(d$outcome), measure = m, add = add, to = to, drop00 = drop00,
        events_treat = d$events_treat, n_treat = d$n_treat, events_ctrl = d$events_ctrl, n_ctrl = d$n_ctrl,
        yi = num(e$yi), vi = num(e$vi))
    }
}
tables <- list(
  single = list(ai = 3, n1i = 10, ci = 5, n2i = 12),
  one_informative = list(ai = c(0, 4, 0), n1i = c(20, 15, 30), ci = c(0, 7, 0), n2i = c(22, 14, 31)),
  events_in_treatment_only = list(ai = c(2, 3, 1), n1i = c(10, 12, 9), ci = c(0, 0, 0), n2i = c(11, 10, 10)),
  with_full_arms = list(ai = c(10, 5, 8, 3), n1i = c(10, 20, 8, 9), ci = c(12, 9, 8, 1), n2i = c(12, 21, 8, 7))
)
fields <- function(r, mh) {
  x <- list(k = r$k, k.yi = r$k.yi, estimate = num(r$beta), se = num(r$se), zval = num(r$zval),
            pval = num(r$pval), ci.lb = num(r$ci.lb), ci.ub = num(r$ci.ub), QE = num(r$QE),
            QEp = num(r$QEp), I2 = num(r$I2), H2 = num(r$H2))
  if (mh && r$measure == "OR")
    x <- c(x, list(k.pos = num(r$k.pos), CMH = num(r$MH), CMHp = num(r$MHp), CO = num(r$CO),
                   COp = num(r$COp), BD = num(r$BD), BDp = num(r$BDp), TA = num(r$TA), TAp = num(r$TAp)))
  x
}
for (nm in names(tables)) {
  t <- tables[[nm]]
  for (m in c("OR", "RR", "RD")) {
    r <- tryCatch(suppressWarnings(rma.mh(measure = m, ai = t$ai, n1i = t$n1i, ci = t$ci, n2i = t$n2i)),
                  error = function(e) e)
    res$pooled[[length(res$pooled) + 1]] <- c(list(name = nm, model = "MH", measure = m, tables = t),
      if (inherits(r, "error")) list(error = conditionMessage(r)) else fields(r, TRUE))
  }
  r <- tryCatch(suppressWarnings(rma.peto(ai = t$ai, n1i = t$n1i, ci = t$ci, n2i = t$n2i)), error = function(e) e)
  res$pooled[[length(res$pooled) + 1]] <- c(list(name = nm, model = "PETO", measure = "OR", tables = t),
    if (inherits(r, "error")) list(error = conditionMessage(r)) else fields(r, FALSE))
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"), out)
