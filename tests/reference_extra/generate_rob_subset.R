## Reference numbers for trialmeta's risk-of-bias sensitivity analyses (rob_sensitivity.csv).
## Run from the repository root:  Rscript tests/reference_extra/generate_rob_subset.R
## Writes tests/reference_extra/rob_subset.json. Needs metafor, metadat and jsonlite.
## Data: metadat's dat.bcg (13 BCG vaccine trials), log risk ratios from escalc("RR").
## The overall risk-of-bias judgements below are a HAND-MADE TEST FIXTURE (not published
## judgements of these trials): they only choose subsets. tests/unit/test_risk_of_bias_metafor.py
## uses the same vector.
## For each primary model (tau2 method x CI method) and each restriction:
##   all                  rma(yi, vi, method = m, test = t)
##   low_risk_only        rma(yi, vi, method = m, test = t, subset = overall == "low")
##   excluding_high_risk  rma(yi, vi, method = m, test = t, subset = overall != "high")
## -> k, estimate, se, ci.lb, ci.ub, tau2 (iterative methods with a tight control).
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/rob_subset.json"
overall <- c("low", "high", "some concerns", "low", "low", "high", "some concerns",
             "low", "low", "some concerns", "high", "low", "some concerns")
dat <- escalc("RR", ai = tpos, bi = tneg, ci = cpos, di = cneg, data = dat.bcg)
models <- list(c("REML", "knha"), c("DL", "z"), c("PM", "knha"))
subsets <- list(all = rep(TRUE, 13), low_risk_only = overall == "low",
                excluding_high_risk = overall != "high")
cases <- list()
for (m in models) {
  for (r in names(subsets)) {
    s <- subsets[[r]]
    fit <- rma(yi, vi, data = dat, subset = s, method = m[1], test = m[2],
               control = list(threshold = 1e-12, maxiter = 1000, tol = 1e-12))
    cases[[length(cases) + 1]] <- list(
      tau2_method = m[1], test = m[2], restriction = r, k = fit$k,
      estimate = as.numeric(fit$beta), se = fit$se, ci.lb = fit$ci.lb, ci.ub = fit$ci.ub,
      tau2 = fit$tau2)
  }
}
res <- list(generated_with = list(R = R.version.string,
                                  metafor = as.character(packageVersion("metafor")),
                                  metadat = as.character(packageVersion("metadat")),
                                  script = "tests/reference_extra/generate_rob_subset.R"),
            data = list(trial = dat.bcg$trial, author = dat.bcg$author, year = dat.bcg$year,
                        tpos = dat.bcg$tpos, tneg = dat.bcg$tneg, cpos = dat.bcg$cpos,
                        cneg = dat.bcg$cneg, overall = overall),
            cases = cases)
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE), out)
