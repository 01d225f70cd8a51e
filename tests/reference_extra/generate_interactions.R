## Reference numbers for trialmeta's within-trial interaction meta-analysis (issue 11).
## Run from the repository root:  Rscript tests/reference_extra/generate_interactions.R
## Writes tests/reference_extra/interactions.json. Needs metafor and jsonlite.
## Cases (level a / level b 2x2 tables per trial, written into the JSON with the results):
##   * bliss_antidsdna, bliss_c3c4: BLISS-52 and BLISS-76, LLDAS at week 52 by anti-dsDNA
##     (high / normal) and by C3/C4 (low / normal), belimumab 10 mg/kg vs placebo: the counts of
##     data/trials/within_trial_subgroups.csv (Oon et al. Ann Rheum Dis 2019;78:629, Table 3);
##   * bcg_pairs: metadat's dat.bcg (BCG vaccine trials), trials 1-12 taken in pairs (1,2),
##     (3,4), ... as level a / level b of six pseudo-trials: a numerical check of the engine
##     with tau2 > 0, not a clinical interaction.
## For each case and measure (RR, OR): escalc per level, d = yi_a - yi_b, vd = vi_a + vi_b,
##   rma(d, vd, method = "FE"); rma(d, vd, method = "REML", test = "knha") with metafor's
##   defaults and with a tight control (tests at 1e-8); rma(d, vd, method = "DL") (closed form);
## and the between-trial comparison: each level pooled across trials, rma(yi, vi, method = m)
##   for m in FE, REML (Wald), the difference of the two pooled estimates, and the test for
##   subgroup differences rma(est, sei = se, mods = ~ factor(level), method = "FE")$QM.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/interactions.json"
num <- function(x) { x <- as.numeric(x); if (is.na(x)) NULL else x }
bliss <- function(a) data.frame(
  study = c("BLISS-52 2011", "BLISS-76 2011"),
  ai = a[, 1], n1a = a[, 2], ci = a[, 3], n2a = a[, 4],
  bi = a[, 5], n1b = a[, 6], di = a[, 7], n2b = a[, 8])
cases <- list(
  bliss_antidsdna = bliss(rbind(c(22, 182, 8, 160, 8, 59, 5, 65), c(20, 131, 6, 116, 9, 71, 9, 76))),
  bliss_c3c4 = bliss(rbind(c(23, 164, 8, 139, 7, 77, 5, 86), c(16, 123, 5, 108, 13, 79, 10, 84))))
b <- get("dat.bcg")  # metadat (attached by metafor)
b <- b[1:12, ]
ia <- seq(1, 11, 2); ib <- seq(2, 12, 2)
cases$bcg_pairs <- data.frame(study = paste0("pair", 1:6),
  ai = b$tpos[ia], n1a = b$tpos[ia] + b$tneg[ia], ci = b$cpos[ia], n2a = b$cpos[ia] + b$cneg[ia],
  bi = b$tpos[ib], n1b = b$tpos[ib] + b$tneg[ib], di = b$cpos[ib], n2b = b$cpos[ib] + b$cneg[ib])
fit_out <- function(r) list(estimate = num(r$beta), se = num(r$se), pval = num(r$pval),
  ci.lb = num(r$ci.lb), ci.ub = num(r$ci.ub), tau2 = num(r$tau2), QE = num(r$QE),
  QEp = num(r$QEp), I2 = num(r$I2), k = r$k)
tight <- function(y) { s <- var(y); if (!is.finite(s) || s <= 0) s <- 1
  list(threshold = 1e-12 * s, tol = 1e-12 * s, maxiter = 10000) }
run_case <- function(d, measure) {
  ea <- escalc(measure, ai = ai, n1i = n1a, ci = ci, n2i = n2a, data = d)
  eb <- escalc(measure, ai = bi, n1i = n1b, ci = di, n2i = n2b, data = d)
  dd <- as.numeric(ea$yi - eb$yi); vd <- as.numeric(ea$vi + eb$vi)
  within <- list(
    FE = fit_out(rma(dd, vd, method = "FE")),
    DL = fit_out(rma(dd, vd, method = "DL")),
    REML_knha = fit_out(rma(dd, vd, method = "REML", test = "knha")),
    REML_knha_tight = fit_out(rma(dd, vd, method = "REML", test = "knha", control = tight(dd))))
  between <- list()
  for (m in c("FE", "REML")) {
    ctrl <- if (m == "REML") tight(c(ea$yi, eb$yi)) else list()
    ra <- rma(as.numeric(ea$yi), as.numeric(ea$vi), method = m, control = ctrl)
    rb <- rma(as.numeric(eb$yi), as.numeric(eb$vi), method = m, control = ctrl)
    qm <- rma(c(ra$beta, rb$beta), sei = c(ra$se, rb$se), mods = ~ factor(c("a", "b")), method = "FE")
    between[[m]] <- list(est_a = num(ra$beta), se_a = num(ra$se), tau2_a = num(ra$tau2),
      est_b = num(rb$beta), se_b = num(rb$se), tau2_b = num(rb$tau2),
      difference = num(ra$beta - rb$beta), se = num(sqrt(ra$se^2 + rb$se^2)),
      QM = num(qm$QM), QMp = num(qm$QMp))
  }
  list(measure = measure, yi_a = as.numeric(ea$yi), vi_a = as.numeric(ea$vi),
       yi_b = as.numeric(eb$yi), vi_b = as.numeric(eb$vi), d = dd, vd = vd,
       within = within, between = between)
}
res <- list(metafor = as.character(packageVersion("metafor")), R = R.version.string, cases = list())
for (nm in names(cases)) {
  d <- cases[[nm]]
  res$cases[[nm]] <- list(data = d, RR = run_case(d, "RR"), OR = run_case(d, "OR"))
}
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out)
cat("wrote", out, "\n")
