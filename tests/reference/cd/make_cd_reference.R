# Reference values for tests/test_cd.py: R plm's pcdtest on the residuals of two-way within regressions.
# Run from the repository root:  Rscript tests/reference/cd/make_cd_reference.R
# Writes tests/reference/cd/pcdtest.csv (plm version in the file).
suppressMessages(library(plm))

produc <- read.csv("tests/reference/produc/Produc_plm.csv")
pp <- pdata.frame(produc, index = c("state", "year"))
m1 <- plm(log(gsp) ~ log(pcap) + log(pc) + log(emp) + unemp, data = pp, model = "within", effect = "twoways")

cigar <- read.csv("tests/reference/cigar/Cigar_plm.csv")
cigar$logc <- log(cigar$sales)
cigar$logp <- log(cigar$price / cigar$cpi)
cigar$logy <- log(cigar$ndi / cigar$cpi)
pc <- pdata.frame(cigar, index = c("state", "year"))
m2 <- plm(logc ~ logp + logy, data = pc, model = "within", effect = "twoways")
wm <- as.matrix(read.csv("tests/reference/cigar/usa46_binary.csv", row.names = 1, check.names = FALSE))
dimnames(wm) <- NULL  # rows and columns in the order of the sorted state codes, as the panel's units

rows <- list()
add <- function(data, test, local, res) {
  rows[[length(rows) + 1]] <<- data.frame(data = data, test = test, local = local,
                                          stat = unname(res$statistic), p = res$p.value)
}
for (t in c("cd", "lm", "sclm")) {
  add("produc", t, FALSE, pcdtest(m1, test = t))
  add("cigar", t, FALSE, pcdtest(m2, test = t))
  add("cigar", t, TRUE, pcdtest(m2, test = t, w = wm))
}
out <- do.call(rbind, rows)
out$plm <- as.character(packageVersion("plm"))
write.csv(out, "tests/reference/cd/pcdtest.csv", row.names = FALSE)
print(out, digits = 12)
