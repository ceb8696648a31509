# Reference values for tests/test_gm.py: R splm's spgm (generalized moments / spatial 2SLS) on
# Munnell's Produc panel with the row-standardised usaww contiguity matrix.
# Run from the repository root:  Rscript tests/reference/gm/make_gm_reference.R
# Writes tests/reference/gm/spgm.csv with columns case, term, estimate, se (+ versions).
#
# Naming: splm calls the spatial-error coefficient "rho" and the spatial-lag coefficient
# "lambda"; spillover calls them the other way round (rho = lag, lambda = error). The terms
# below are written in spillover's names: rho = W y coefficient, lambda = W u coefficient,
# lpcap = log(pcap), ..., Intercept = (Intercept), sigma2_v / sigma2_1 / theta = splm's
# sigma^2_v, sigma^2_1 and theta. splm reports no standard error for the error coefficient:
# its se is NA here.
#
# splm conventions recorded here (see tests/test_gm.py): with model = "within" spgm ignores
# `moments` (the three within-moment cases are identical); with moments = "weights" its nlminb
# stops next to the initial estimate (the weighted criterion is badly scaled), so one case is
# repeated with Nelder-Mead and a tight tolerance, which does reach the minimum.
suppressMessages({library(splm); library(plm)})

produc <- read.csv("tests/reference/produc/Produc_plm.csv")
wm <- as.matrix(read.csv("tests/reference/produc/usaww_rowstd.csv", row.names = 1, check.names = FALSE))
produc$state <- factor(gsub(" ", "_", produc$state), levels = rownames(wm))  # units in W's order
stopifnot(!anyNA(produc$state), nlevels(produc$state) == nrow(wm))
dimnames(wm) <- NULL

f <- log(gsp) ~ log(pcap) + log(pc) + log(emp) + unemp
f_endog <- log(gsp) ~ log(pc) + log(emp) + unemp  # log(pcap) endogenous, log(hwy) its instrument

rename <- function(nm) {
  nm <- sub("^log\\((.*)\\)$", "l\\1", nm)
  nm[nm == "(Intercept)"] <- "Intercept"
  nm
}

rows <- list()
add <- function(case, fit) {
  b <- drop(fit$coefficients)
  se <- sqrt(diag(as.matrix(fit$vcov)))
  if (is.null(names(b))) names(b) <- rownames(fit$vcov)  # the random-effects SEM leaves them unnamed
  terms <- rename(names(b))
  terms[terms == "lambda"] <- "rho"  # splm's lag coefficient
  rows[[length(rows) + 1]] <<- data.frame(case = case, term = terms, estimate = unname(b), se = unname(se))
  if (!is.null(fit$errcomp)) {
    ec <- drop(fit$errcomp)
    nm <- c(rho = "lambda", "sigma^2_v" = "sigma2_v", "sigma^2_1" = "sigma2_1", theta = "theta")[rownames(fit$errcomp)]
    rows[[length(rows) + 1]] <<- data.frame(case = case, term = unname(nm), estimate = unname(ec), se = NA_real_)
  }
}

for (m in c("initial", "weights", "fullweights")) {
  add(paste0("sem_within_", m), spgm(f, data = produc, listw = wm, model = "within", lag = FALSE,
                                     spatial.error = TRUE, moments = m))
  add(paste0("sem_random_", m), spgm(f, data = produc, listw = wm, model = "random", lag = FALSE,
                                     spatial.error = TRUE, moments = m))
  add(paste0("sarar_random_", m), spgm(f, data = produc, listw = wm, model = "random", lag = TRUE,
                                       spatial.error = TRUE, moments = m))
}
add("sem_random_weights_nm", spgm(f, data = produc, listw = wm, model = "random", lag = FALSE,
                                  spatial.error = TRUE, moments = "weights", optim.method = "Nelder-Mead",
                                  control = list(reltol = 1e-16, maxit = 100000)))
add("sarar_within_initial", spgm(f, data = produc, listw = wm, model = "within", lag = TRUE,
                                 spatial.error = TRUE, moments = "initial"))
add("sar_within", spgm(f, data = produc, listw = wm, model = "within", lag = TRUE, spatial.error = FALSE))
add("sar_random", spgm(f, data = produc, listw = wm, model = "random", lag = TRUE, spatial.error = FALSE))

# one endogenous regressor, log(pcap), with one external instrument, log(hwy)
for (fe in c("within", "random")) {
  add(paste0("sem_", fe, "_endog"), spgm(f_endog, data = produc, listw = wm, model = fe, lag = FALSE,
                                         spatial.error = TRUE, endog = ~log(pcap), instruments = ~log(hwy)))
  add(paste0("sar_", fe, "_endog"), spgm(f_endog, data = produc, listw = wm, model = fe, lag = TRUE,
                                         spatial.error = FALSE, endog = ~log(pcap), instruments = ~log(hwy)))
  add(paste0("sarar_", fe, "_endog"), spgm(f_endog, data = produc, listw = wm, model = fe, lag = TRUE,
                                           spatial.error = TRUE, endog = ~log(pcap), instruments = ~log(hwy)))
}

out <- do.call(rbind, rows)
out$splm <- as.character(packageVersion("splm"))
out$plm <- as.character(packageVersion("plm"))
out$R <- paste(R.version$major, R.version$minor, sep = ".")
write.csv(out, "tests/reference/gm/spgm.csv", row.names = FALSE)
print(out[, 1:4], digits = 12)
