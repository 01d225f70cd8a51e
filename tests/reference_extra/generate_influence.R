## Reference numbers for trialmeta's influence diagnostics (metafor::influence.rma.uni).
## Run from the repository root:  Rscript tests/reference_extra/generate_influence.R
## Writes tests/reference_extra/influence.json. Inputs: the trials.csv files of tests/reference
## (yi/vi by escalc with the same calls as tests/reference/generate.R). Models are fitted with
## REML and the "tight" control of the reference set (threshold = tol = 1e-12 * var(yi),
## maxiter = 10000), so the numbers are converged (compare at 1e-8 relative).
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/influence.json"
ref <- "tests/reference"
cases <- list(
  list(ds = "dat.bcg", filter = list(outcome_type = "binary"), measures = c("OR", "RR", "RD")),
  list(ds = "dat.pagliaro1992", filter = list(therapy = "beta-blockers"), measures = c("OR", "RR")),
  list(ds = "dat.hart1999", filter = list(outcome_type = "binary"), measures = c("OR")),
  list(ds = "dat.normand1999", filter = list(outcome_type = "continuous"), measures = c("MD", "SMD")),
  list(ds = "dat.stowe2010", filter = list(comparator = "placebo", therapy = "COMT inhibitor"), measures = c("MD"))
)
res <- list(generated_with = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                                  script = "tests/reference_extra/generate_influence.R",
                                  call = "influence(rma(yi, vi, method='REML', control=tight))"),
            cases = list())
for (cs in cases) {
  d <- read.csv(file.path(ref, cs$ds, "trials.csv"), stringsAsFactors = FALSE, na.strings = "")
  for (col in names(cs$filter)) d <- d[grepl(cs$filter[[col]], d[[col]], fixed = TRUE), ]
  for (m in cs$measures) {
    if (m %in% c("OR", "RR", "RD")) {
      es <- escalc(measure = m, ai = d$events_treat, n1i = d$n_treat, ci = d$events_ctrl, n2i = d$n_ctrl)
    } else {
      es <- escalc(measure = m, m1i = d$mean_treat, sd1i = d$sd_treat, n1i = d$n_treat,
                   m2i = d$mean_ctrl, sd2i = d$sd_ctrl, n2i = d$n_ctrl)
    }
    yi <- as.numeric(es$yi); vi <- as.numeric(es$vi)
    s <- var(yi)
    ctrl <- list(threshold = 1e-12 * s, tol = 1e-12 * s, maxiter = 10000)
    fit <- rma(yi, vi, method = "REML", control = ctrl)
    inf <- influence(fit)
    res$cases[[length(res$cases) + 1]] <- list(
      dataset = cs$ds, filter = cs$filter, measure = m, study_id = d$study_id, yi = yi, vi = vi,
      tau2 = fit$tau2, rstudent = inf$inf$rstudent, dffits = inf$inf$dffits, cook.d = inf$inf$cook.d,
      cov.r = inf$inf$cov.r, tau2.del = inf$inf$tau2.del, QE.del = inf$inf$QE.del, hat = inf$inf$hat,
      weight = inf$inf$weight, dfbetas = inf$dfbs[[1]], inf = inf$is.infl)
  }
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE), out)
cat("wrote", out, "\n")
