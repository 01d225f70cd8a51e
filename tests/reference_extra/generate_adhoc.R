## Reference numbers for trialmeta's modified HKSJ interval (ci_method "hksj_adhoc").
## Run from the repository root:  Rscript tests/reference_extra/generate_adhoc.R
## Writes tests/reference_extra/adhoc.json. Needs metafor and jsonlite.
## For every reference case of tests/reference (dataset x analysis x measure, as listed in each
## dat.*/metafor.json; the same cases as tests/helpers/reference_data.py reference_cases()) and
## every tau2 method, on the escalc yi/vi stored in that metafor.json (computed by
## tests/reference/generate.R from exactly dat.*/trials.csv):
##   rma(yi, vi, method = m, test = "adhoc")   (Knapp & Hartung 2003: the scaling factor of the
##   Knapp-Hartung variance truncated below at 1; t with k - 1 df)
## -> estimate, se, tval, pval, ci.lb, ci.ub, tau2 and predict() pi.lb / pi.ub.
## Closed-form methods (DL, HE, HS, SJ) are run once with metafor's defaults; the iterative ones
## (REML, ML, PM, EB) are also run with the case's "tight" control from metafor.json (block
## "tight"), which the tests compare at 1e-8 relative.
## A fit that fails is recorded as {"error": message}.
suppressPackageStartupMessages({library(metafor); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
out <- if (length(args)) args[1] else "tests/reference_extra/adhoc.json"
ref <- "tests/reference"
num <- function(x) { x <- as.numeric(x); if (length(x) != 1L) stop("scalar expected")
  if (is.na(x)) NULL else if (is.infinite(x)) (if (x > 0) "Inf" else "-Inf") else x }
jnum <- function(x) vapply(x, function(v) if (is.null(v)) NA_real_ else as.numeric(v), 0)
CLOSED <- c("DL", "HE", "HS", "SJ")
ITERATIVE <- c("REML", "ML", "PM", "EB")
fit_adhoc <- function(yi, vi, m, ctrl) {
  r <- tryCatch(suppressWarnings(rma(yi, vi, method = m, test = "adhoc", control = ctrl)),
                error = function(e) e)
  if (inherits(r, "error")) return(list(error = conditionMessage(r)))
  p <- predict(r)
  list(method = m, test = r$test, k = r$k, estimate = num(r$beta), se = num(r$se),
       tval = num(r$zval), df = num(r$ddf), pval = num(r$pval), ci.lb = num(r$ci.lb),
       ci.ub = num(r$ci.ub), tau2 = num(r$tau2), pi.lb = num(p$pi.lb), pi.ub = num(p$pi.ub))
}
res <- list(generated_with = list(R = R.version.string, metafor = as.character(packageVersion("metafor")),
                                  jsonlite = as.character(packageVersion("jsonlite")),
                                  script = "tests/reference_extra/generate_adhoc.R",
                                  note = paste("metafor 3.8-1 (the version of tests/reference);",
                                               "Debian package r-cran-metafor 3.8-1-1")),
            cases = list())
for (ds in sort(list.files(ref, pattern = "^dat\\."))) {
  mj <- fromJSON(file.path(ref, ds, "metafor.json"), simplifyVector = FALSE)
  for (aid in names(mj$analyses)) {
    a <- mj$analyses[[aid]]
    for (meas in unlist(a$measures)) {
      r <- a$results[[meas]]
      yi <- jnum(r$escalc$yi); vi <- jnum(r$escalc$vi)
      ok <- is.finite(yi) & is.finite(vi)
      yi <- yi[ok]; vi <- vi[ok]
      tight <- lapply(r$tight$control, as.numeric)
      fits <- list()
      for (m in c(CLOSED, ITERATIVE)) fits[[m]] <- fit_adhoc(yi, vi, m, list())
      tfits <- list()
      for (m in ITERATIVE) tfits[[m]] <- fit_adhoc(yi, vi, m, tight)
      res$cases[[length(res$cases) + 1]] <- list(dataset = ds, analysis = aid, measure = meas,
        k = length(yi), default = fits, tight = c(list(control = tight), tfits))
    }
  }
}
writeLines(toJSON(res, digits = NA, auto_unbox = TRUE, pretty = TRUE, null = "null"), out)
