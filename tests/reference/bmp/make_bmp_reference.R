# Reference values for tests/test_model_probabilities.py: SDPDmod's blmpSDPD (Bayesian log-marginal
# likelihoods and model probabilities, LeSage 2014) on Munnell's Produc panel.
# Run from the repository root:  Rscript tests/reference/bmp/make_bmp_reference.R
# Writes
#   tests/reference/bmp/usaww_binary_specnorm.csv  the second W: splm's usaww contiguity made binary (w_ij > 0)
#                                                  and divided by its largest eigenvalue (symmetric, rows do
#                                                  not sum to one), printed with 17 significant digits
#   tests/reference/bmp/blmp.csv                   model, W, effect, prior, log_marginal, probability (+ versions)
#   tests/reference/bmp/rounding_none.csv          for effect = "none" (data in levels, with an intercept), the
#                                                  SDEM residual sum of squares S(lambda) at a few lambda computed
#                                                  as blmpSDPD does (explicit inverse of the cross-product matrix),
#                                                  by solve(A, b) and by a QR decomposition of the regressors
suppressMessages({
  library(plm)
  library(SDPDmod)
})

produc <- read.csv("tests/reference/produc/Produc_plm.csv")
wr <- as.matrix(read.csv("tests/reference/produc/usaww_rowstd.csv", row.names = 1, check.names = FALSE))
# blmpSDPD stacks the panel by (year, state) with states in the order of the index factor's levels:
# W's rows must follow that order
stopifnot(identical(levels(factor(produc$state)), rownames(wr)))
dimnames(wr) <- NULL

wb <- (wr > 0) * 1
lmax <- max(eigen(wb, symmetric = TRUE, only.values = TRUE)$values)
wb <- wb / lmax
out <- trimws(formatC(wb, digits = 17, format = "g"))
dimnames(out) <- list(levels(factor(produc$state)), levels(factor(produc$state)))
write.csv(noquote(out), "tests/reference/bmp/usaww_binary_specnorm.csv", quote = FALSE)
wb <- as.matrix(read.csv("tests/reference/bmp/usaww_binary_specnorm.csv", row.names = 1, check.names = FALSE))
dimnames(wb) <- NULL  # use exactly the matrix Python reads

form <- log(gsp) ~ log(pcap) + log(pc) + log(emp) + unemp
models <- list("ols", "slx", "sar", "sdm", "sem", "sdem")
ws <- list(usaww = wr, binary_specnorm = wb)
runs <- list(
  list(effect = "none", prior = "uniform"),
  list(effect = "individual", prior = "uniform"),
  list(effect = "time", prior = "uniform"),
  list(effect = "twoways", prior = "uniform"),
  list(effect = "individual", prior = "beta"),
  list(effect = "twoways", prior = "beta")
)
rows <- list()
for (wname in names(ws)) {
  for (r in runs) {
    res <- blmpSDPD(formula = form, data = produc, W = ws[[wname]], index = c("state", "year"),
                    model = models, effect = r$effect, prior = r$prior)
    lm <- unlist(res$lmarginal)
    pr <- unlist(res$probs)
    rows[[length(rows) + 1]] <- data.frame(model = names(lm), W = wname, effect = r$effect, prior = r$prior,
                                           log_marginal = sprintf("%.17g", lm),
                                           probability = sprintf("%.17g", pr[names(lm)]))
  }
}
out <- do.call(rbind, rows)
out$SDPDmod <- as.character(packageVersion("SDPDmod"))
out$plm <- as.character(packageVersion("plm"))
out$RSpectra <- as.character(packageVersion("RSpectra"))
out$Matrix <- as.character(packageVersion("Matrix"))
out$R <- paste(R.version$major, R.version$minor, sep = ".")
write.csv(out, "tests/reference/bmp/blmp.csv", row.names = FALSE, quote = FALSE)
print(out[, 1:6], digits = 12)

# Rounding of blmpSDPD's error models when nothing is demeaned: it forms b = solve(Axx) %*% Axy and
# S = Ayy - b'Axx b with Axx = Z_l'Z_l built from cross-products of data in levels (cond(Axx) ~ 1e6).
o <- order(produc$year, produc$state)
d <- produc[o, ]
y <- log(d$gsp)
X <- cbind(log(d$pcap), log(d$pc), log(d$emp), d$unemp)
Wnt <- kronecker(diag(17), wr)
Wx <- Wnt %*% X
Wy <- as.vector(Wnt %*% y)
xx <- cbind(1, X, Wx)
lag <- cbind(1, Wx, Wnt %*% Wx)  # blmpSDPD's lag of [1, X, WX] (W 1 = 1)
rows <- list()
for (lam in c(-0.5, 0, 0.3, 0.6, 0.9)) {
  Axx <- crossprod(xx) - lam * crossprod(xx, lag) - lam * crossprod(lag, xx) + lam^2 * crossprod(lag)
  Axy <- crossprod(xx, y) - lam * crossprod(xx, Wy) - lam * crossprod(lag, y) + lam^2 * crossprod(lag, Wy)
  Ayy <- sum(y * y) - 2 * lam * sum(y * Wy) + lam^2 * sum(Wy * Wy)
  b1 <- solve(Axx) %*% Axy
  b2 <- solve(Axx, Axy)
  rows[[length(rows) + 1]] <- data.frame(
    lambda = lam,
    S_inverse = sprintf("%.17g", as.numeric(Ayy - t(b1) %*% Axx %*% b1)),
    S_solve = sprintf("%.17g", as.numeric(Ayy - t(b2) %*% Axx %*% b2)),
    S_qr = sprintf("%.17g", sum(qr.resid(qr(xx - lam * lag), y - lam * Wy)^2)))
}
rnd <- do.call(rbind, rows)
write.csv(rnd, "tests/reference/bmp/rounding_none.csv", row.names = FALSE, quote = FALSE)
print(rnd)
