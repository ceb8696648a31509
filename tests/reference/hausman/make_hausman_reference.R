# Reference values for tests/test_hausman.py: R splm's sphtest (Hausman test of random against fixed
# unit effects in spatial panels, maximum likelihood) on Munnell's Produc with the row-standardised usaww.
# Run from the repository root:  Rscript tests/reference/hausman/make_hausman_reference.R
# Writes
#   tests/reference/hausman/sphtest.csv         one row per (model, errors): statistic, df, p, versions
#   tests/reference/hausman/sphtest_inputs.csv  the estimates and covariance matrices sphtest compared
# The SDM is the lag model with the spatial lags of the regressors (splm's slag) added to the formula.
suppressMessages({library(splm); library(plm); library(spdep)})

produc <- read.csv("tests/reference/produc/Produc_plm.csv")
wm <- as.matrix(read.csv("tests/reference/produc/usaww_rowstd.csv", row.names = 1, check.names = FALSE))
lw <- mat2listw(wm, style = "W")  # rows already sum to 1; units in the sorted state order of the panel
pp <- pdata.frame(produc, index = c("state", "year"))
pp$lgsp <- log(pp$gsp); pp$lpcap <- log(pp$pcap); pp$lpc <- log(pp$pc); pp$lemp <- log(pp$emp)
for (v in c("lpcap", "lpc", "lemp", "unemp")) pp[[paste0("W_", v)]] <- slag(pp[[v]], listw = lw)
f <- lgsp ~ lpcap + lpc + lemp + unemp
f_sdm <- lgsp ~ lpcap + lpc + lemp + unemp + W_lpcap + W_lpc + W_lemp + W_unemp

cases <- list(
  list(model = "lag", errors = "KKP", formula = f, lag = TRUE, se = "none"),
  list(model = "error", errors = "BSK", formula = f, lag = FALSE, se = "b"),
  list(model = "error", errors = "KKP", formula = f, lag = FALSE, se = "kkp"),
  list(model = "sarar", errors = "BSK", formula = f, lag = TRUE, se = "b"),
  list(model = "sarar", errors = "KKP", formula = f, lag = TRUE, se = "kkp"),
  list(model = "sdm", errors = "KKP", formula = f_sdm, lag = TRUE, se = "none")
)

nz <- function(x) if (is.null(x)) NA_real_ else as.numeric(x)
stats <- list()
inputs <- list()
long <- function(case, fit, what, x) {
  if (is.matrix(x)) {
    nm <- if (is.null(rownames(x))) c(names(coef(fit))) else rownames(x)
    g <- expand.grid(i = seq_len(nrow(x)), j = seq_len(ncol(x)))
    data.frame(model = case$model, errors = case$errors, fit = what, item = "vcov",
               row = nm[g$i], col = nm[g$j], value = x[cbind(g$i, g$j)])
  } else {
    data.frame(model = case$model, errors = case$errors, fit = what, item = "coef",
               row = names(x), col = "", value = unname(x))
  }
}
for (case in cases) {
  # exactly what sphtest.formula fits: spml within (individual effects) and spml random
  fe <- spml(case$formula, data = pp, listw = lw, lag = case$lag, spatial.error = case$se, model = "within")
  re <- spml(case$formula, data = pp, listw = lw, lag = case$lag, spatial.error = case$se, model = "random")
  h <- sphtest(fe, re)
  h2 <- sphtest(case$formula, data = pp, listw = lw, spatial.model = if (case$model == "sdm") "lag" else case$model,
                method = "ML", errors = case$errors)
  stopifnot(isTRUE(all.equal(unname(h$statistic), unname(h2$statistic), tolerance = 1e-12)))
  stats[[length(stats) + 1]] <- data.frame(model = case$model, errors = case$errors,
                                           stat = unname(h$statistic[1]), df = unname(h$parameter),
                                           p = h$p.value, fe_loglik = nz(fe$logLik), re_loglik = nz(re$logLik))
  fe_vcov <- fe$vcov
  dimnames(fe_vcov) <- list(names(coef(fe)), names(coef(fe)))  # sphtest's within vcov is unnamed, in coef order
  inputs[[length(inputs) + 1]] <- rbind(
    long(case, fe, "within", coef(fe)), long(case, fe, "within", fe_vcov),
    long(case, re, "random", coef(re)), long(case, re, "random", re$vcov),
    long(case, re, "random", c(re$arcoef, re$errcomp)))
}
out <- do.call(rbind, stats)
out$splm <- as.character(packageVersion("splm"))
out$plm <- as.character(packageVersion("plm"))
out$spdep <- as.character(packageVersion("spdep"))
out$R <- paste(R.version$major, R.version$minor, sep = ".")
write.csv(out, "tests/reference/hausman/sphtest.csv", row.names = FALSE)
write.csv(do.call(rbind, inputs), "tests/reference/hausman/sphtest_inputs.csv", row.names = FALSE)
print(out, digits = 12)
