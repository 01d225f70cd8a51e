## Reference numbers for trialmeta's single-arm measures (issue 17).
## Run from the repository root:  Rscript tests/reference_extra/generate_single_arm.R
## Writes tests/reference_extra/single_arm.json with R 4.2.2, metafor 3.8-1, metadat, lme4.
## * escalc(measure = PLO/PAS/PFT/PR, xi, ni) on metadat's dat.pritz1997 (two studies with
##   xi = ni: the continuity rule of each measure) with the default add/to, and with
##   to = "all" / "none" for PLO and PR; plus transf.ipft (per study) and transf.ipft.hm.
## * rma(yi, vi, method = m) for every tau2 method (default and "tight" control, relative to
##   var(yi) as in tests/reference/generate.R), test = "z" and "knha"; predict() with the
##   back-transformation of each measure (PFT: transf.ipft.hm with targs = list(ni = ni)).
## * escalc(measure = "MC" / "SMCR", m1i = follow-up, m2i = baseline, sd1i = baseline SD
##   (SMCR) or sd1i = follow-up SD, sd2i = baseline SD (MC), ni, ri) on the hand-made pre-post
##   table below for ri = 0.3, 0.5, 0.7, pooled with every tau2 method.
## * rma.glmm(measure = "PLO", xi, ni) (lme4::glmer, nAGQ = 7, ML) on dat.pritz1997, on a
##   table with a zero and a full study, and on a homogeneous table (tau2 = 0 boundary); and
##   lme4::glmer of the same model with a tight optimiser (block "tight").
suppressPackageStartupMessages({library(metafor); library(metadat); library(jsonlite); library(lme4)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/single_arm.json"
num <- function(x) { x <- as.numeric(x); lapply(x, function(v) if (is.na(v)) NULL else if (is.infinite(v)) (if (v > 0) "Inf" else "-Inf") else v) }
METHODS <- c("DL", "HE", "HS", "SJ", "REML", "ML", "PM", "EB")
tight <- function(yi) { s <- var(yi); list(threshold = 1e-12 * s, tol = 1e-12 * s, maxiter = 10000) }
pool <- function(yi, vi, m, ctrl, test, bt) {
  r <- tryCatch(suppressWarnings(rma(yi, vi, method = m, control = ctrl, test = test)), error = function(e) e)
  if (inherits(r, "error")) return(list(error = conditionMessage(r)))
  p <- predict(r)
  pt <- bt(c(p$pred, p$ci.lb, p$ci.ub, p$pi.lb, p$pi.ub))
  list(estimate = num(r$beta), se = num(r$se), pval = num(r$pval), ci.lb = num(r$ci.lb), ci.ub = num(r$ci.ub),
       tau2 = num(r$tau2), I2 = num(r$I2), QE = num(r$QE), pi.lb = num(p$pi.lb), pi.ub = num(p$pi.ub),
       back = num(pt))
}
pool_all <- function(yi, vi, bt) {
  outp <- list()
  for (m in METHODS) for (test in c("z", "knha")) {
    outp[[paste(m, test, "default", sep = "|")]] <- pool(yi, vi, m, list(), test, bt)
    outp[[paste(m, test, "tight", sep = "|")]] <- pool(yi, vi, m, tight(yi), test, bt)
  }
  outp
}
d <- dat.pritz1997
res <- list(generated_with = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                                  lme4 = as.character(packageVersion("lme4")),
                                  script = "tests/reference_extra/generate_single_arm.R"),
            pritz = list(xi = d$xi, ni = d$ni), proportions = list(), change = list(), glmm = list())
hm <- function(x) transf.ipft.hm(x, targs = list(ni = d$ni))
backs <- list(PLO = transf.ilogit, PAS = transf.iarcsin, PFT = hm, PR = function(x) x)
for (m in c("PLO", "PAS", "PFT", "PR")) for (to in c("default", "all", "none")) {
  if (to != "default" && !(m %in% c("PLO", "PR"))) next
  e <- if (to == "default") escalc(measure = m, xi = xi, ni = ni, data = d) else
    suppressWarnings(escalc(measure = m, xi = xi, ni = ni, data = d, to = to))
  entry <- list(measure = m, to = to, yi = num(e$yi), vi = num(e$vi))
  if (m == "PFT") entry$ipft <- num(transf.ipft(e$yi, d$ni))
  if (to == "default") entry$pooled <- pool_all(e$yi, e$vi, backs[[m]])
  res$proportions[[paste(m, to, sep = "|")]] <- entry
}
## hand-made pre-post table (not real data): follow-up minus baseline
pp <- data.frame(m_pre = c(12.2, 10.5, 14.0, 9.8, 11.1, 13.4), sd_pre = c(3.3, 2.9, 4.1, 2.2, 3.0, 3.8),
                 m_post = c(3.2, 6.1, 7.5, 7.9, 4.4, 9.0), sd_post = c(2.8, 3.1, 3.9, 2.5, 2.6, 4.4),
                 n = c(12, 25, 18, 40, 9, 30))
res$prepost <- as.list(pp)
for (r in c(0.3, 0.5, 0.7)) {
  mc <- escalc(measure = "MC", m1i = m_post, m2i = m_pre, sd1i = sd_post, sd2i = sd_pre, ni = n, ri = rep(r, 6), data = pp)
  sm <- escalc(measure = "SMCR", m1i = m_post, m2i = m_pre, sd1i = sd_pre, ni = n, ri = rep(r, 6), data = pp)
  id <- function(x) x
  res$change[[paste0("MC|", r)]] <- list(yi = num(mc$yi), vi = num(mc$vi), pooled = pool_all(mc$yi, mc$vi, id))
  res$change[[paste0("SMCR|", r)]] <- list(yi = num(sm$yi), vi = num(sm$vi), pooled = pool_all(sm$yi, sm$vi, id))
}
glmm_sets <- list(pritz = list(xi = d$xi, ni = d$ni),
                  edges = list(xi = c(0, 3, 7, 12, 5), ni = c(10, 15, 20, 12, 30)),
                  homogeneous = list(xi = c(10, 20, 30, 41), ni = c(100, 200, 300, 400)))
for (nm in names(glmm_sets)) {
  s <- glmm_sets[[nm]]
  g <- rma.glmm(measure = "PLO", xi = s$xi, ni = s$ni)
  res$glmm[[nm]] <- list(xi = s$xi, ni = s$ni, estimate = num(g$beta), se = num(g$se), ci.lb = num(g$ci.lb),
                         ci.ub = num(g$ci.ub), pval = num(g$pval), tau2 = num(g$tau2))
  ## the same model straight from lme4 with a tight optimiser (bobyqa rhoend = 1e-12): the
  ## optimum of the AGQ likelihood itself, without metafor's default optimiser tolerance
  dd <- data.frame(xi = s$xi, ni = s$ni, study = factor(seq_along(s$xi)))
  gt <- glmer(cbind(xi, ni - xi) ~ 1 + (1 | study), data = dd, family = binomial, nAGQ = 7,
              control = glmerControl(optimizer = "bobyqa", optCtrl = list(rhoend = 1e-12, maxfun = 1e5)))
  res$glmm[[nm]]$tight <- list(estimate = num(fixef(gt)), se = num(sqrt(vcov(gt)[1, 1])),
                               tau2 = num(VarCorr(gt)$study[1]))
}
writeLines(toJSON(res, auto_unbox = TRUE, digits = NA, pretty = TRUE, null = "null"), out)
cat("wrote", out, "\n")
