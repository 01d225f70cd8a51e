## Reference numbers for trialmeta's meta-regression options that tests/reference does not cover:
## Knapp-Hartung (test = "knha"), ML and DL estimators. Run from the repository root:
##   Rscript tests/reference_extra/generate_metareg_extra.R
## Writes tests/reference_extra/metareg_extra.json (tight control as in tests/reference).
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/metareg_extra.json"
d <- read.csv("tests/reference/dat.bcg/trials.csv", stringsAsFactors = FALSE, na.strings = "")
res <- list(generated_with = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                                  script = "tests/reference_extra/generate_metareg_extra.R"), cases = list())
for (m in c("OR", "RR")) {
  es <- escalc(measure = m, ai = d$events_treat, n1i = d$n_treat, ci = d$events_ctrl, n2i = d$n_ctrl)
  d$yi <- as.numeric(es$yi); d$vi <- as.numeric(es$vi)
  s <- var(d$yi)
  ctrl <- list(threshold = 1e-12 * s, tol = 1e-12 * s, maxiter = 10000)
  for (f in c("~ ablat", "~ factor(alloc)", "~ ablat + year")) for (meth in c("REML", "ML", "DL")) for (tst in c("z", "knha")) {
    fit <- rma(yi, vi, mods = as.formula(f), data = d, method = meth, test = tst, control = ctrl)
    cn <- rownames(fit$beta)
    res$cases[[length(res$cases) + 1]] <- list(
      measure = m, formula = f, method = meth, test = tst, yi = d$yi, vi = d$vi,
      terms = cn, coef = as.numeric(fit$beta), se = as.numeric(fit$se), stat = as.numeric(fit$zval),
      pval = as.numeric(fit$pval), ci.lb = as.numeric(fit$ci.lb), ci.ub = as.numeric(fit$ci.ub),
      QM = fit$QM, QMdf = as.numeric(fit$QMdf), QMp = fit$QMp, tau2 = fit$tau2, se.tau2 = fit$se.tau2,
      I2 = fit$I2, H2 = fit$H2, R2 = if (is.null(fit$R2)) NA else fit$R2, QE = fit$QE, QEp = fit$QEp)
  }
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, na = "null"), out)
cat("wrote", out, "\n")
