# Reference numbers for the per-stratum ART (analysis.art(error="strata")).
# ARTool 0.11.2 (github mjskay/ARTool @ 4dbe6e3), emmeans. Usage (scripts/make_analysis_fixtures.py
# runs it):
#   Rscript scripts/r_art_strata.R tests/fixtures/analysis
# reads <dir>/study16.csv, within3.csv, mixed_design.csv; writes <dir>/r_art_strata.json.
suppressPackageStartupMessages({library(ARTool); library(emmeans); library(jsonlite)})
args <- commandArgs(trailingOnly = TRUE)
dir <- if (length(args) >= 1) args[1] else "tests/fixtures/analysis"
cellmeans <- function(d, dv, fs, s) {
  a <- aggregate(d[[dv]], d[c(s, fs)], mean)
  names(a)[ncol(a)] <- "y"
  for (f in c(s, fs)) a[[f]] <- factor(a[[f]])
  a
}
anova_rows <- function(m) {
  a <- anova(m)
  data.frame(term = as.character(a$Term), F = a$`F value`, df1 = a$Df, df2 = a$Df.res,
             p = a$`Pr(>F)`, error = as.character(a$Error))
}
con_rows <- function(m, term, adjust) {
  s <- as.data.frame(summary(art.con(m, term, adjust = adjust)))
  data.frame(contrast = as.character(s$contrast), estimate = s$estimate, SE = s$SE,
             df = s$df, t = s$t.ratio, p = s$p.value)
}
# ART-C ranks for an interaction term T (ARTool's art.con on an Error() model fails here
# in emmeans 1.8.4: "non-conformable arguments"), then emmeans on the aovlist of the ranks:
# aligned = y - mean(full cell) + mean(T cell) - grand mean (Elkin et al. 2021).
artc_interaction <- function(d, fs, s, tf, adjust) {
  full <- interaction(d[fs], drop = TRUE)
  tc <- interaction(d[tf], drop = TRUE)
  al <- d$y - ave(d$y, full) + ave(d$y, tc) - mean(d$y)
  d$r <- rank(round(al, 8))
  f <- as.formula(paste("r ~", paste(fs, collapse = "*"), "+ Error(", s, "/(",
                        paste(fs, collapse = "*"), "))"))
  assign("artc_d", d, envir = globalenv())
  op <- options(contrasts = c("contr.sum", "contr.poly")); on.exit(options(op))
  fit <- eval(bquote(aov(.(f), data = artc_d)), globalenv())
  s <- as.data.frame(summary(contrast(emmeans(fit, as.formula(paste("~", paste(tf, collapse = "*")))),
                                      "pairwise"), adjust = adjust))
  data.frame(contrast = as.character(s$contrast), estimate = s$estimate, SE = s$SE,
             df = s$df, t = s$t.ratio, p = s$p.value)
}
out <- list()
st <- read.csv(file.path(dir, "study16.csv"))
st <- st[st$item == "naturalness", ]
cm <- cellmeans(st, "value", c("method", "emotion"), "participant_id")
m <- art(y ~ method * emotion + Error(participant_id / (method * emotion)), data = cm)
out$naturalness <- anova_rows(m)
out$naturalness_con_method_holm <- con_rows(m, "method", "holm")
out$naturalness_con_method_tukey <- con_rows(m, "method", "tukey")
out$naturalness_con_interaction_holm <- artc_interaction(cm, c("method", "emotion"),
                                                         "participant_id",
                                                         c("method", "emotion"), "holm")
out$naturalness_con_interaction_tukey <- artc_interaction(cm, c("method", "emotion"),
                                                          "participant_id",
                                                          c("method", "emotion"), "tukey")
w3 <- read.csv(file.path(dir, "within3.csv"))
cm3 <- cellmeans(w3, "y", c("A", "B", "C"), "subject")
m3 <- art(y ~ A * B * C + Error(subject / (A * B * C)), data = cm3)
out$within3 <- anova_rows(m3)
out$within3_con_AC_holm <- artc_interaction(cm3, c("A", "B", "C"), "subject", c("A", "C"),
                                            "holm")
md <- read.csv(file.path(dir, "mixed_design.csv"))
cmd <- cellmeans(md, "y", c("group", "cond"), "subject")
mm <- art(y ~ group * cond + Error(subject / cond), data = cmd)
out$mixed_design <- anova_rows(mm)
out$mixed_design_con_cond_holm <- con_rows(mm, "cond", "holm")
out$versions <- list(R = R.version.string, ARTool = as.character(packageVersion("ARTool")),
                     emmeans = as.character(packageVersion("emmeans")))
writeLines(toJSON(out, digits = NA, auto_unbox = TRUE, pretty = TRUE),
           file.path(dir, "r_art_strata.json"))
