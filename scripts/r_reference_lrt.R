# Reference values for study_model's likelihood-ratio simplification (analysis/mixed.py,
# simplify = "lrt"), computed independently with lme4 / lmerTest.
#
# Usage: Rscript scripts/r_reference_lrt.R tests/fixtures/analysis
# Reads <dir>/study16.csv and <dir>/clips20.csv, writes <dir>/r_reference_lrt.json.
#
# The rule (Matuschek, Kliegl, Vasishth, Baayen & Bates 2017, J. Mem. Lang. 94:305-315):
# fit the maximal variance-component model by REML; drop components whose relative SD
# (theta) is below 1e-4 and refit until none is; then repeatedly take the component with
# the smallest estimated variance (never the participant intercept), refit without it
# (again dropping zero estimates), and compare by a REML likelihood-ratio test,
# anova(m0, m1, refit = FALSE) (chi-square, 1 df): drop it when p >= 0.20, else stop.
# Needs r-base-core, r-cran-lme4, r-cran-lmertest, r-cran-jsonlite (CI does not need R).

suppressPackageStartupMessages({library(jsonlite); library(lmerTest)})
options(contrasts = c("contr.sum", "contr.poly"))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "tests/fixtures/analysis"
tight <- lmerControl(optimizer = "nloptwrap", check.conv.singular = "ignore",
                     optCtrl = list(ftol_abs = 1e-15, ftol_rel = 1e-15, xtol_abs = 1e-12,
                                    xtol_rel = 1e-12, maxeval = 1e5))
ALPHA <- 0.20
TOL <- 1e-4

fac <- function(d, cols) {
  for (f in cols) d[[f]] <- factor(d[[f]], levels = sort(unique(as.character(d[[f]])),
                                                          method = "radix"))
  d
}
fit <- function(d, dv, comps) {
  f <- as.formula(paste(dv, "~ method * emotion +",
                        paste0("(1 | ", comps, ")", collapse = " + ")))
  lmer(f, data = d, REML = TRUE, control = tight)
}
theta_of <- function(m) {
  th <- getME(m, "theta")
  setNames(unname(th), sub("\\.\\(Intercept\\)$", "", names(th)))
}
var_of <- function(m) {
  v <- as.data.frame(VarCorr(m))
  v <- v[v$grp != "Residual", ]
  setNames(v$vcov, v$grp)
}
# refit without zero estimates (theta < TOL) until none is left; returns model, comps, drops
drop_singular <- function(d, dv, comps, subject) {
  m <- fit(d, dv, comps)
  drops <- character(0)
  repeat {
    th <- theta_of(m)[comps]
    zero <- comps[th < TOL]
    if (length(zero) == 0 || length(comps) == 1) break
    if (length(zero) == length(comps)) zero <- setdiff(comps, subject)
    drops <- c(drops, zero)
    comps <- setdiff(comps, zero)
    m <- fit(d, dv, comps)
  }
  list(m = m, comps = comps, drops = drops)
}
select <- function(d, dv, subject, comps) {
  maximal <- fit(d, dv, comps)
  s <- drop_singular(d, dv, comps, subject)
  steps <- lapply(s$drops, function(c) list(spec = c, reason = "singular"))
  m <- s$m
  comps <- s$comps
  repeat {
    cand <- setdiff(comps, subject)
    if (length(cand) == 0) break
    v <- var_of(m)[cand]
    j <- names(v)[which.min(v)]
    r <- drop_singular(d, dv, setdiff(comps, j), subject)
    a <- anova(r$m, m, refit = FALSE)
    lr <- REMLcrit(r$m) - REMLcrit(m)
    p <- pchisq(max(lr, 0), 1, lower.tail = FALSE)
    keep <- p < ALPHA
    steps[[length(steps) + 1]] <- list(spec = j, reason = "LRT", variance = unname(v[j]),
                                       LR = lr, anova_chisq = a$Chisq[2], df = 1, p = p,
                                       decision = if (keep) "kept" else "dropped")
    if (keep) break
    for (c in r$drops) steps[[length(steps) + 1]] <- list(spec = c, reason = "singular")
    m <- r$m
    comps <- r$comps
  }
  a <- anova(m, type = 3)
  list(maximal_reml = REMLcrit(maximal), steps = steps, kept = I(comps),
       reml = REMLcrit(m),
       satterthwaite = list(term = rownames(a), F = a[["F value"]], df1 = a[["NumDF"]],
                            df2 = a[["DenDF"]], p = a[["Pr(>F)"]]))
}

out <- list()
st <- read.csv(file.path(dir, "study16.csv"), stringsAsFactors = FALSE)
for (item in c("naturalness", "arousal_realism", "face_quality")) {
  d <- fac(st[st$item == item, ], c("method", "emotion", "participant_id", "clip_id"))
  d$value <- as.numeric(d$value)
  out[[item]] <- select(d, "value", "participant_id",
                        c("participant_id", "participant_id:method", "participant_id:emotion",
                          "participant_id:method:emotion", "clip_id"))
}
c20 <- fac(read.csv(file.path(dir, "clips20.csv"), stringsAsFactors = FALSE),
           c("participant", "method", "emotion", "clip_id"))
out$clips20 <- select(c20, "rating", "participant",
                      c("participant", "participant:method", "participant:emotion",
                        "participant:method:emotion", "clip_id"))
out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     lmerTest = as.character(packageVersion("lmerTest")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(dir, "r_reference_lrt.json"))
