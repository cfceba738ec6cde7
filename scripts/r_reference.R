# Reference values for vr-study's analysis tests, computed with R's standard packages.
#
# Usage: Rscript scripts/r_reference.R tests/fixtures/analysis
# (normally run through scripts/make_analysis_fixtures.py, which first writes the datasets)
# Writes <dir>/r_reference.json. Needs Debian's r-base-core, r-cran-lme4, r-cran-lmertest,
# r-cran-afex, r-cran-ordinal, r-cran-car, r-cran-emmeans, r-cran-jsonlite.
#
# ARTool is not packaged in Debian, so the Aligned Rank Transform is written out here
# following ARTool's algorithm (Wobbrock et al. 2011; ARTool's art()/anova.art() for
# y ~ A*B + Error(S)): align per effect, rank with average ties after rounding to 8
# decimals, aov() of the ranks on the full factorial with sum-to-zero contrasts and
# Error(S) strata, keep only that effect's row. ART-C (Elkin et al. 2021, art.con): merge
# the term's factors, align + rank for the merged factor, pairwise emmeans contrasts of a
# linear model with subject fixed effects (equal to the within stratum for balanced data).

suppressPackageStartupMessages({
  library(jsonlite); library(lme4); library(afex); library(car); library(emmeans)
  library(ordinal)
})
options(contrasts = c("contr.sum", "contr.poly"))
emm_options(lmer.df = "asymptotic")
afex_options(type = 3)

args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "tests/fixtures/analysis"

as_factors <- function(d, cols) {
  for (f in cols) d[[f]] <- factor(d[[f]], levels = sort(unique(as.character(d[[f]])),
                                                          method = "radix"))
  d
}

effect_terms <- function(factors) {
  out <- list()
  for (k in seq_along(factors)) out <- c(out, combn(factors, k, simplify = FALSE))
  out
}

art_align <- function(d, dv, factors, effect) {
  y <- d[[dv]]
  resid <- y - ave(y, interaction(d[factors], drop = TRUE))
  est <- 0
  k <- length(effect)
  for (r in 0:k) {
    subsets <- if (r == 0) list(character(0)) else combn(effect, r, simplify = FALSE)
    for (s in subsets) {
      m <- if (r == 0) mean(y) else ave(y, interaction(d[s], drop = TRUE))
      est <- est + (-1)^(k - r) * m
    }
  }
  resid + est
}

art_anova <- function(d, dv, factors, subject) {
  rows <- list()
  for (eff in effect_terms(factors)) {
    d$.r <- rank(round(art_align(d, dv, factors, eff), 8))
    f <- as.formula(paste(".r ~", paste(factors, collapse = "*"),
                          "+ Error(", subject, ")"))
    s <- summary(aov(f, data = d))
    label <- paste(eff, collapse = ":")
    for (stratum in names(s)) {
      tab <- s[[stratum]][[1]]
      rn <- trimws(rownames(tab))
      if (label %in% rn) {
        i <- which(rn == label); j <- which(rn == "Residuals")
        rows[[length(rows) + 1]] <- list(term = label, F = tab[i, "F value"],
          df1 = tab[i, "Df"], df2 = tab[j, "Df"], p = tab[i, "Pr(>F)"],
          error = sub("Error: ", "", stratum))
      }
    }
  }
  rows
}

art_con <- function(d, dv, factors, subject, term) {
  tf <- strsplit(term, ":")[[1]]
  if (length(tf) > 1) {
    d$.M <- factor(do.call(paste, c(lapply(tf, function(f) as.character(d[[f]])), sep = ",")))
    d$.M <- factor(d$.M, levels = sort(levels(d$.M), method = "radix"))
    mf <- c(".M", setdiff(factors, tf)); target <- ".M"
  } else {
    mf <- factors; target <- tf
  }
  d$.r <- rank(round(art_align(d, dv, mf, target), 8))
  fit <- lm(as.formula(paste(".r ~", paste(mf, collapse = "*"), "+", subject)), data = d)
  emm <- emmeans(fit, as.formula(paste("~", target)))
  pr <- as.data.frame(pairs(emm, adjust = "holm"))
  lev <- levels(d[[target]])
  pairs_idx <- combn(length(lev), 2)
  list(level1 = lev[pairs_idx[1, ]], level2 = lev[pairs_idx[2, ]], estimate = pr$estimate,
       SE = pr$SE, df = pr$df, t = pr$t.ratio, p = pr$p.value)
}

out <- list()

# ---------------------------------------------------------------- study16 (export format)
st <- read.csv(file.path(dir, "study16.csv"), stringsAsFactors = FALSE)
st <- as_factors(st, c("method", "emotion", "participant_id", "clip_id"))
nat <- st[st$item == "naturalness", ]
nat$value <- as.numeric(nat$value)

out$art_naturalness <- art_anova(nat, "value", c("method", "emotion"), "participant_id")
out$artcon_naturalness_method <- art_con(nat, "value", c("method", "emotion"),
                                         "participant_id", "method")
out$artcon_naturalness_interaction <- art_con(nat, "value", c("method", "emotion"),
                                              "participant_id", "method:emotion")

a <- aov_ez("participant_id", "value", nat, within = c("method", "emotion"),
            fun_aggregate = mean)
unc <- anova(a, correction = "none", es = c("pes", "ges"))
gg <- anova(a, correction = "GG", es = c("pes", "ges"))
sa <- summary(a)
pv <- as.data.frame(unclass(sa$pval.adjustments))
sph <- as.data.frame(unclass(sa$sphericity.tests))
out$rm_anova_naturalness <- list(term = rownames(unc), F = unc$F, df1 = unc$`num Df`,
  df2 = unc$`den Df`, p = unc$`Pr(>F)`, pes = unc$pes, ges = unc$ges,
  df1_gg = gg$`num Df`, df2_gg = gg$`den Df`, p_gg = gg$`Pr(>F)`,
  eps_term = rownames(pv), eps_gg = pv$`GG eps`,
  mauchly_term = rownames(sph), mauchly_W = sph$`Test statistic`, mauchly_p = sph$`p-value`)

m <- lmer(value ~ method * emotion + (1 | participant_id), data = nat, REML = TRUE)
vc <- as.data.frame(VarCorr(m))
an <- Anova(m, type = 3, test.statistic = "Chisq")
emm <- emmeans(m, ~method)
es <- as.data.frame(emm)
pr <- as.data.frame(pairs(emm, adjust = "holm"))
lt <- lmerTest::lmer(value ~ method * emotion + (1 | participant_id), data = nat)
sat <- anova(lt, type = 3, ddf = "Satterthwaite")
out$lmer_naturalness <- list(fixef_names = names(fixef(m)), fixef = unname(fixef(m)),
  se = unname(sqrt(diag(as.matrix(vcov(m))))), var_group = vc$vcov[vc$grp == "participant_id"],
  var_resid = vc$vcov[vc$grp == "Residual"], anova_term = rownames(an), chisq = an$Chisq,
  chisq_df = an$Df, chisq_p = an$`Pr(>Chisq)`, emm_level = as.character(es$method),
  emmean = es$emmean, emm_se = es$SE, pair_estimate = pr$estimate, pair_se = pr$SE,
  pair_z = pr$z.ratio, pair_p = pr$p.value, satterthwaite_term = rownames(sat),
  satterthwaite_F = sat$`F value`, satterthwaite_ddf = sat$DenDF, satterthwaite_p = sat$`Pr(>F)`)

m2 <- lmer(value ~ method * emotion + (1 | participant_id) + (1 | clip_id), data = nat,
           REML = TRUE)
vc2 <- as.data.frame(VarCorr(m2))
an2 <- Anova(m2, type = 3, test.statistic = "Chisq")
out$lmer_crossed_naturalness <- list(fixef = unname(fixef(m2)),
  se = unname(sqrt(diag(as.matrix(vcov(m2))))),
  var_participant = vc2$vcov[vc2$grp == "participant_id"],
  var_clip = vc2$vcov[vc2$grp == "clip_id"], var_resid = vc2$vcov[vc2$grp == "Residual"],
  anova_term = rownames(an2), chisq = an2$Chisq)

agg <- aggregate(value ~ participant_id + method, data = nat, FUN = mean)
ft <- friedman.test(value ~ method | participant_id, data = agg)
out$friedman_naturalness_method <- list(statistic = unname(ft$statistic),
  df = unname(ft$parameter), p = ft$p.value)
lev <- levels(agg$method); cmb <- combn(length(lev), 2); wil <- list()
for (k in seq_len(ncol(cmb))) {
  x <- agg[agg$method == lev[cmb[1, k]], ]; y <- agg[agg$method == lev[cmb[2, k]], ]
  x <- x[order(x$participant_id), ]; y <- y[order(y$participant_id), ]
  w <- suppressWarnings(wilcox.test(x$value, y$value, paired = TRUE, exact = FALSE,
                                    correct = TRUE))
  wil$level1 <- c(wil$level1, lev[cmb[1, k]]); wil$level2 <- c(wil$level2, lev[cmb[2, k]])
  wil$V <- c(wil$V, unname(w$statistic)); wil$p_unadjusted <- c(wil$p_unadjusted, w$p.value)
}
wil$p <- p.adjust(wil$p_unadjusted, "holm")
out$wilcoxon_naturalness_method <- wil

options(contrasts = c("contr.treatment", "contr.poly"))
cm <- clm(ordered(value) ~ method + emotion, data = nat, link = "logit")
out$clm_naturalness <- list(names = names(coef(cm)), coef = unname(coef(cm)),
                            se = unname(sqrt(diag(vcov(cm)))), logLik = as.numeric(logLik(cm)))
options(contrasts = c("contr.sum", "contr.poly"))

rec <- st[st$instrument == "emotion_recognition", ]
rec$correct <- as.numeric(rec$correct)
g <- glm(correct ~ method * emotion, family = binomial, data = rec)
out$glm_recognition <- list(names = names(coef(g)), coef = unname(coef(g)))
bt <- list()
for (mm in levels(rec$method)) for (ee in levels(rec$emotion)) {
  sub <- rec[rec$method == mm & rec$emotion == ee, ]
  b <- binom.test(sum(sub$correct), nrow(sub), p = 0.25)
  bt$method <- c(bt$method, mm); bt$emotion <- c(bt$emotion, ee)
  bt$k <- c(bt$k, sum(sub$correct)); bt$n <- c(bt$n, nrow(sub)); bt$p <- c(bt$p, b$p.value)
  bt$ci_low <- c(bt$ci_low, b$conf.int[1]); bt$ci_high <- c(bt$ci_high, b$conf.int[2])
}
out$binom_recognition <- bt

rat <- st[st$instrument == "animation_rating", ]
wide <- reshape(rat[, c("participant_id", "trial_index", "item", "value_scored")],
                idvar = c("participant_id", "trial_index"), timevar = "item",
                direction = "wide")
X <- as.matrix(wide[, grep("^value_scored", names(wide))])
k <- ncol(X)
out$alpha_animation_rating <- list(alpha = k / (k - 1) * (1 - sum(apply(X, 2, var)) /
                                                              var(rowSums(X))), k = k)

met <- read.csv(file.path(dir, "metrics16.csv"), stringsAsFactors = FALSE)
cmean <- aggregate(value ~ clip_id, data = nat, FUN = mean)
j <- merge(cmean, met, by = "clip_id")
cr <- list()
for (metric in c("bc", "jerk_mean", "l1div")) {
  s <- suppressWarnings(cor.test(j$value, j[[metric]], method = "spearman", exact = FALSE))
  kt <- suppressWarnings(cor.test(j$value, j[[metric]], method = "kendall", exact = FALSE))
  cr$metric <- c(cr$metric, metric); cr$rho <- c(cr$rho, unname(s$estimate))
  cr$rho_p <- c(cr$rho_p, s$p.value); cr$tau <- c(cr$tau, unname(kt$estimate))
  cr$tau_p <- c(cr$tau_p, kt$p.value)
}
out$cor_naturalness <- cr

# ---------------------------------------------------------------- within3 (3 within factors)
w3 <- as_factors(read.csv(file.path(dir, "within3.csv"), stringsAsFactors = FALSE),
                 c("subject", "A", "B", "C"))
out$art_within3 <- art_anova(w3, "y", c("A", "B", "C"), "subject")
out$artcon_within3_AC <- art_con(w3, "y", c("A", "B", "C"), "subject", "A:C")
a3 <- aov_ez("subject", "y", w3, within = c("A", "B", "C"))
unc3 <- anova(a3, correction = "none", es = c("pes", "ges"))
gg3 <- anova(a3, correction = "GG", es = c("pes", "ges"))
pv3 <- as.data.frame(unclass(summary(a3)$pval.adjustments))
out$rm_anova_within3 <- list(term = rownames(unc3), F = unc3$F, df1 = unc3$`num Df`,
  df2 = unc3$`den Df`, p = unc3$`Pr(>F)`, pes = unc3$pes, ges = unc3$ges,
  p_gg = gg3$`Pr(>F)`, eps_term = rownames(pv3), eps_gg = pv3$`GG eps`)

# ---------------------------------------------------------------- mixed design
md <- as_factors(read.csv(file.path(dir, "mixed_design.csv"), stringsAsFactors = FALSE),
                 c("subject", "group", "cond"))
out$art_mixed_design <- art_anova(md, "y", c("group", "cond"), "subject")
out$artcon_mixed_cond <- art_con(md, "y", c("group", "cond"), "subject", "cond")
# a between-subjects term: the contrast lives in the subject stratum (subject mean ranks)
md$.r <- rank(round(art_align(md, "y", c("group", "cond"), "group"), 8))
sm <- aggregate(.r ~ subject + group, data = md, FUN = mean)
prg <- as.data.frame(pairs(emmeans(lm(.r ~ group, data = sm), ~group), adjust = "holm"))
out$artcon_mixed_group <- list(estimate = prg$estimate, SE = prg$SE, df = prg$df,
                               t = prg$t.ratio, p = prg$p.value)

# ---------------------------------------------------------------- p-value adjustment
pv <- c(0.01, 0.04, 0.03, 0.005, 0.2, 0.04, NA, 0.5)
out$p_adjust <- list(p = pv, holm = p.adjust(pv, "holm"),
                     bonferroni = p.adjust(pv, "bonferroni"), fdr_bh = p.adjust(pv, "BH"))

write_json(out, file.path(dir, "r_reference.json"), digits = NA, auto_unbox = TRUE, na = "null",
           pretty = TRUE)
cat("wrote", file.path(dir, "r_reference.json"), "\n")
