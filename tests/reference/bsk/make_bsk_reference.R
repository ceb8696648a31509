# Reference values for tests/test_panel_lm.py: R splm's bsktest and bsjktest on Munnell's Produc panel
# (pooled regression, row-standardised usaww), and the restricted ML fits (spreml) the conditional tests use.
# Run from the repository root:  Rscript tests/reference/bsk/make_bsk_reference.R
# Writes tests/reference/bsk/bsk.csv (test, stat, p per response) and tests/reference/bsk/restricted_ml.csv
# (model, name, value); numbers are written with 17 significant digits, R and splm versions in both files.
suppressMessages({
  library(plm)
  library(spdep)
  library(splm)
})

produc <- read.csv("tests/reference/produc/Produc_plm.csv")
wm <- as.matrix(read.csv("tests/reference/produc/usaww_rowstd.csv", row.names = 1, check.names = FALSE))
# splm matches W's rows to the units in sorted order: check that this is the order of the matrix
stopifnot(identical(sort(unique(produc$state)), rownames(wm)), identical(rownames(wm), colnames(wm)))
lw <- mat2listw(wm, style = "W")

versions <- c(R = paste(R.version$major, R.version$minor, sep = "."), splm = as.character(packageVersion("splm")))
num <- function(x) sprintf("%.17g", unname(as.numeric(x)))

# the formula used elsewhere in the tests, and the same with y multiplied by 10 (every LM statistic is
# invariant to the scale of y: a change shows a statistic that is not)
formulas <- list("log(gsp)" = log(gsp) ~ log(pcap) + log(pc) + log(emp) + unemp,
                 "10*log(gsp)" = I(10 * log(gsp)) ~ log(pcap) + log(pc) + log(emp) + unemp)

rows <- list()
for (resp in names(formulas)) {
  fm <- formulas[[resp]]
  for (t in c("LM1", "LM2", "LMH", "CLMlambda", "CLMmu")) {
    r <- bsktest(fm, data = produc, listw = lw, test = t)
    rows[[length(rows) + 1]] <- data.frame(response = resp, test = t, stat = num(r$statistic), p = num(r$p.value))
  }
  for (t in c("C.1", "C.2", "C.3", "J")) {
    r <- bsjktest(fm, data = produc, listw = lw, test = t)
    rows[[length(rows) + 1]] <- data.frame(response = resp, test = t, stat = num(r$statistic), p = num(r$p.value))
  }
}
out <- do.call(rbind, rows)
out$R <- versions[["R"]]
out$splm <- versions[["splm"]]
write.csv(out, "tests/reference/bsk/bsk.csv", row.names = FALSE, quote = FALSE)
print(out)

# restricted ML fits behind CLMlambda (re), CLMmu (sem), C.1 (srre), C.2 (semre), C.3 (semsr)
fm <- formulas[["log(gsp)"]]
ml <- list()
for (e in c("re", "sem", "srre", "semre", "semsr")) {
  m <- spreml(fm, data = produc, w = lw, errors = e, lag = FALSE)
  vals <- c(m$errcomp, coef(m), sigma2 = m$sigma2$idios, logLik = m$logLik)
  ml[[e]] <- data.frame(model = e, name = names(vals), value = num(vals))
}
ml <- do.call(rbind, ml)
ml$R <- versions[["R"]]
ml$splm <- versions[["splm"]]
write.csv(ml, "tests/reference/bsk/restricted_ml.csv", row.names = FALSE, quote = FALSE)
print(ml)
