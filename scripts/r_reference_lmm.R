# Reference values for vr-study's mixed models (analysis/lmm.py, mixed.py, glmm.py, ordinal.py).
#
# Usage: Rscript scripts/r_reference_lmm.R tests/fixtures/analysis
# Reads <dir>/study16.csv (written by scripts/make_analysis_fixtures.py), writes
# <dir>/clips20.csv and recog20.csv (simulated studies, made here with set.seed) and
# <dir>/r_reference_lmm.json. Needs Debian's r-base-core, r-cran-lme4, r-cran-lmertest,
# r-cran-pbkrtest, r-cran-ordinal, r-cran-emmeans, r-cran-jsonlite (tests only read the
# committed values; CI does not need R).

suppressPackageStartupMessages({
  library(jsonlite); library(lmerTest); library(pbkrtest); library(ordinal); library(emmeans)
})
options(contrasts = c("contr.sum", "contr.poly"))
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "tests/fixtures/analysis"
out <- list()
# converge tightly (lme4's default tolerances leave ~1e-4 relative slack in nearly flat
# directions such as a small clip variance); the tests then compare implementations
tight <- lmerControl(optimizer = "nloptwrap",
                     optCtrl = list(ftol_abs = 1e-15, ftol_rel = 1e-15, xtol_abs = 1e-12,
                                    xtol_rel = 1e-12, maxeval = 1e5))

fac <- function(d, cols) {
  for (f in cols) d[[f]] <- factor(d[[f]], levels = sort(unique(as.character(d[[f]])),
                                                          method = "radix"))
  d
}
aov_list <- function(a) list(term = rownames(a), F = a[["F value"]], df1 = a[["NumDF"]],
                             df2 = a[["DenDF"]], p = a[["Pr(>F)"]])
vc_list <- function(m) {
  v <- as.data.frame(VarCorr(m))
  setNames(as.list(v$vcov), ifelse(v$grp == "Residual", "residual", v$grp))
}
lmm_ref <- function(m) {
  emm <- summary(emmeans(m, ~ method, lmer.df = "satterthwaite"))
  pw <- summary(pairs(emmeans(m, ~ method, lmer.df = "satterthwaite"), reverse = FALSE),
                adjust = "holm")
  emk <- summary(emmeans(m, ~ method, lmer.df = "kenward-roger"))
  list(fixef = unname(fixef(m)), se = unname(sqrt(diag(as.matrix(vcov(m))))),
       var = vc_list(m), reml = REMLcrit(m),
       satterthwaite = aov_list(anova(m, type = 3)),
       kenward_roger = aov_list(anova(m, type = 3, ddf = "Kenward-Roger")),
       coef_df = unname(summary(m)$coefficients[, "df"]),
       emm_level = as.character(emm$method), emmean = emm$emmean, emm_se = emm$SE,
       emm_df = emm$df, emm_df_kr = emk$df, emm_se_kr = emk$SE,
       pair_estimate = pw$estimate, pair_se = pw$SE, pair_df = pw$df, pair_t = pw$t.ratio,
       pair_p = pw$p.value)
}

st <- read.csv(file.path(dir, "study16.csv"), stringsAsFactors = FALSE)
nat <- fac(st[st$item == "naturalness", ], c("method", "emotion", "participant_id", "clip_id"))
nat$value <- as.numeric(nat$value)

# 1. random intercept only (what the report used to fit)
out$lmer_p <- lmm_ref(lmer(value ~ method * emotion + (1 | participant_id), data = nat, control = tight))
# 2. participant x method component and crossed clips (non-singular on these data)
out$lmer_pm_clip <- lmm_ref(lmer(value ~ method * emotion + (1 | participant_id) +
                                   (1 | participant_id:method) + (1 | clip_id), data = nat, control = tight))
# 3. the same model on unbalanced data: every 7th trial row dropped
unb <- nat[nat$trial_index %% 7 != 0, ]
out$lmer_unbalanced <- lmm_ref(lmer(value ~ method * emotion + (1 | participant_id) +
                                      (1 | participant_id:method) + (1 | clip_id), data = unb, control = tight))

# 4. the issue's example: clips differ, participants barely do (20 participants, 4 methods x
# 2 emotions, 2 clips per cell, ratings 1-7). Method has an effect of zero; clip effects are
# large, so the by-participant Wald chi-square is far too liberal and lmerTest's
# Satterthwaite df is about 8 (16 clips - 8 cells).
set.seed(20261205)
d <- expand.grid(clip = 1:2, emotion = c("happy", "neutral"),
                 method = c("A", "B", "C", "D"), participant = sprintf("P%02d", 1:20),
                 stringsAsFactors = FALSE)
d$clip_id <- paste(d$method, d$emotion, d$clip, sep = "_")
clip_eff <- setNames(rnorm(16, 0, 0.9), sort(unique(d$clip_id)))
pp_eff <- setNames(rnorm(20, 0, 0.5), sprintf("P%02d", 1:20))
eta <- 4 + clip_eff[d$clip_id] + pp_eff[d$participant] + rnorm(nrow(d), 0, 1)
d$rating <- pmin(7, pmax(1, round(eta)))
# the same study with a real method effect: the asymptotic chi-square p of the crossed
# model is many orders of magnitude below lmerTest's Satterthwaite p (df ~ 8)
d$rating_fx <- pmin(7, pmax(1, round(eta + c(A = -2, B = -0.5, C = 0.5, D = 2)[d$method])))
d <- d[, c("participant", "method", "emotion", "clip_id", "rating", "rating_fx")]
write.csv(d, file.path(dir, "clips20.csv"), row.names = FALSE)
d <- fac(d, c("participant", "method", "emotion", "clip_id"))
mc <- lmer(rating ~ method * emotion + (1 | participant) + (1 | clip_id), data = d, control = tight)
a <- anova(mc, type = 3)
chisq <- a[["F value"]] * a[["NumDF"]]
out$lmer_clips20 <- c(lmm_ref(mc), list(wald_chisq = chisq,
                                        wald_p = pchisq(chisq, a[["NumDF"]], lower.tail = FALSE)))
mf <- lmer(rating_fx ~ method * emotion + (1 | participant) + (1 | clip_id), data = d,
           control = tight)
af <- anova(mf, type = 3)
chisq <- af[["F value"]] * af[["NumDF"]]
out$lmer_clips20_effect <- list(satterthwaite = aov_list(af), wald_chisq = chisq,
                                wald_p = pchisq(chisq, af[["NumDF"]], lower.tail = FALSE))
mp <- lmer(rating ~ method * emotion + (1 | participant), data = d, control = tight)
out$lmer_clips20_participant_only <- list(satterthwaite = aov_list(anova(mp, type = 3)))

# 5. cumulative link mixed model (Laplace), method x emotion, participant intercept
cm <- clmm(ordered(value) ~ method * emotion + (1 | participant_id), data = nat,
           link = "logit", Hess = TRUE, nAGQ = 1)
out$clmm_naturalness <- list(names = names(coef(cm)), coef = unname(coef(cm)),
                             se = unname(sqrt(diag(vcov(cm)))[seq_along(coef(cm))]),
                             sd_participant = unname(attr(VarCorr(cm)[[1]], "stddev")),
                             logLik = as.numeric(logLik(cm)))

# 6. binomial GLMM (Laplace = glmer's default nAGQ = 1) for emotion recognition
rec <- fac(st[st$instrument == "emotion_recognition", ],
           c("method", "emotion", "participant_id", "clip_id"))
rec$correct <- as.numeric(rec$correct)
gm <- glmer(correct ~ method * emotion + (1 | participant_id), data = rec, family = binomial)
gl <- function(g) list(names = names(fixef(g)), coef = unname(fixef(g)),
                       se = unname(sqrt(diag(as.matrix(vcov(g))))), var = vc_list(g),
                       logLik = as.numeric(logLik(g)),
                       wald_chisq = unname(sapply(c("method", "emotion", "method:emotion"),
                         function(t) {
                           i <- which(attr(model.matrix(g), "assign") ==
                                        which(attr(terms(g), "term.labels") == t))
                           b <- fixef(g)[i]; V <- as.matrix(vcov(g))[i, i]
                           drop(t(b) %*% solve(V, b))
                         })))
out$glmer_recognition <- gl(gm)
gm2 <- glmer(correct ~ method * emotion + (1 | participant_id) + (1 | clip_id), data = rec,
             family = binomial)
out$glmer_recognition_clip <- gl(gm2)

# 7. a recognition study with real participant and clip variation (20 participants,
# 4 methods x 2 emotions, 3 clips per cell), simulated here
set.seed(7)
r <- expand.grid(clip = 1:3, emotion = c("angry", "happy"), method = c("A", "B", "C", "D"),
                 participant = sprintf("P%02d", 1:20), stringsAsFactors = FALSE)
r$clip_id <- paste(r$method, r$emotion, r$clip, sep = "_")
ce <- setNames(rnorm(24, 0, 0.6), sort(unique(r$clip_id)))
pe <- setNames(rnorm(20, 0, 0.9), sprintf("P%02d", 1:20))
me <- c(A = 0.8, B = 0.3, C = 0, D = -0.4)
r$correct <- rbinom(nrow(r), 1, plogis(0.2 + me[r$method] + ce[r$clip_id] + pe[r$participant]))
r <- r[, c("participant", "method", "emotion", "clip_id", "correct")]
write.csv(r, file.path(dir, "recog20.csv"), row.names = FALSE)
r <- fac(r, c("participant", "method", "emotion", "clip_id"))
out$glmer_recog20 <- gl(glmer(correct ~ method * emotion + (1 | participant), data = r,
                              family = binomial))
out$glmer_recog20_clip <- gl(glmer(correct ~ method * emotion + (1 | participant) +
                                     (1 | clip_id), data = r, family = binomial))
# the same with the penalised IRLS converged fully (lme4's default tolPwrss = 1e-7 leaves
# its Laplace deviance ~1e-4 off, which moves the Hessian-based SEs by up to 0.6 %)
pirls <- glmerControl(tolPwrss = 1e-12, optimizer = "nloptwrap",
                      optCtrl = list(ftol_abs = 1e-15, ftol_rel = 1e-15, xtol_abs = 1e-12,
                                     xtol_rel = 1e-12, maxeval = 1e5))
out$glmer_recog20_tight <- gl(glmer(correct ~ method * emotion + (1 | participant), data = r,
                                    family = binomial, control = pirls))
out$glmer_recog20_clip_tight <- gl(glmer(correct ~ method * emotion + (1 | participant) +
                                           (1 | clip_id), data = r, family = binomial,
                                         control = pirls))

out$versions <- list(R = R.version.string, lme4 = as.character(packageVersion("lme4")),
                     lmerTest = as.character(packageVersion("lmerTest")),
                     pbkrtest = as.character(packageVersion("pbkrtest")),
                     ordinal = as.character(packageVersion("ordinal")),
                     emmeans = as.character(packageVersion("emmeans")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(dir, "r_reference_lmm.json"))
