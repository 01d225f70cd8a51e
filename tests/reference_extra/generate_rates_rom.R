## Reference numbers for trialmeta's rate measures (IRR, IRD) and ratio of means (ROM).
## Run from the repository root:  Rscript tests/reference_extra/generate_rates_rom.R
## Writes tests/reference_extra/rates_rom.json (R 4.2.2, metafor 3.8-1, metadat).
## * escalc(measure = "IRR"/"IRD", x1i, t1i, x2i, t2i) on metadat::dat.hart1999 (warfarin vs
##   control, strokes over patient-years), defaults add = 1/2, to = "only0"; and on a small
##   hand-made set with zero counts (the continuity correction: to = only0 / all / none, drop00).
## * escalc(measure = "ROM", m1i, sd1i, n1i, m2i, sd2i, n2i) on metadat::dat.normand1999
##   (length of hospital stay, specialist vs routine care).
## * rma(yi, vi, method = m) for every tau2 estimator trialmeta supports (DL, REML, ML, PM, HE,
##   SJ, EB, HS), test = "z": closed forms at metafor's defaults, iterative ones with a tight
##   control (threshold = tol = 1e-12 var(yi), as tests/reference/generate.R), plus rma(method =
##   "FE").
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/rates_rom.json"
num <- function(x) { x <- as.numeric(x); lapply(x, function(v) if (is.na(v)) NULL else if (is.infinite(v)) (if (v > 0) "Inf" else "-Inf") else v) }
METHODS <- c("DL", "REML", "ML", "PM", "HE", "SJ", "EB", "HS")
fit_all <- function(yi, vi) {
  s <- var(yi); ctrl <- list(threshold = 1e-12 * s, tol = 1e-12 * s, maxiter = 10000)
  res <- list()
  f <- rma(yi, vi, method = "FE")
  res$FE <- list(estimate = num(f$beta), se = num(f$se), ci.lb = num(f$ci.lb), ci.ub = num(f$ci.ub),
                 QE = num(f$QE), QEp = num(f$QEp), I2 = num(f$I2), H2 = num(f$H2))
  for (m in METHODS) {
    iterative <- m %in% c("REML", "ML", "PM", "EB")
    f <- suppressWarnings(if (iterative) rma(yi, vi, method = m, control = ctrl) else rma(yi, vi, method = m))
    res[[m]] <- list(tau2 = num(f$tau2), estimate = num(f$beta), se = num(f$se), zval = num(f$zval),
                     pval = num(f$pval), ci.lb = num(f$ci.lb), ci.ub = num(f$ci.ub), QE = num(f$QE),
                     I2 = num(f$I2), H2 = num(f$H2))
  }
  res
}
res <- list(generated_with = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                                  metadat = as.character(packageVersion("metadat")),
                                  script = "tests/reference_extra/generate_rates_rom.R"),
            rates = list(), rom = list(), continuity = list())
h <- dat.hart1999
for (m in c("IRR", "IRD")) {
  e <- escalc(measure = m, x1i = x1i, t1i = t1i, x2i = x2i, t2i = t2i, data = h)
  res$rates[[m]] <- list(dataset = "dat.hart1999", study = h$trial, x1i = h$x1i, t1i = h$t1i,
                         x2i = h$x2i, t2i = h$t2i, yi = num(e$yi), vi = num(e$vi),
                         pooled = fit_all(as.numeric(e$yi), as.numeric(e$vi)))
}
z <- list(x1i = c(0, 4, 0, 7, 3), t1i = c(120.5, 98, 80, 150, 60), x2i = c(3, 0, 0, 12, 5),
          t2i = c(110, 101.5, 85, 149, 62))
for (m in c("IRR", "IRD")) for (to in c("only0", "all", "none")) for (drop00 in c(FALSE, TRUE)) {
  e <- suppressWarnings(escalc(measure = m, x1i = z$x1i, t1i = z$t1i, x2i = z$x2i, t2i = z$t2i,
                               to = to, drop00 = drop00))
  res$continuity[[length(res$continuity) + 1]] <- c(z, list(measure = m, to = to, drop00 = drop00,
                                                       add = 0.5, yi = num(e$yi), vi = num(e$vi)))
}
d <- dat.normand1999
e <- escalc(measure = "ROM", m1i = m1i, sd1i = sd1i, n1i = n1i, m2i = m2i, sd2i = sd2i, n2i = n2i, data = d)
res$rom <- list(dataset = "dat.normand1999", study = d$source, m1i = d$m1i, sd1i = d$sd1i, n1i = d$n1i,
                m2i = d$m2i, sd2i = d$sd2i, n2i = d$n2i, yi = num(e$yi), vi = num(e$vi),
                pooled = fit_all(as.numeric(e$yi), as.numeric(e$vi)))
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"), out)
