"""Chinese renderings of what the package writes in English: fixed phrases, generated sentences, spec text.

A :class:`Translator` turns one English display string into the target
language: an exact phrase (a study's own ``[translations.zh]`` entries
first, then :data:`PHRASES`), else a generated sentence matched by one of
:data:`PATTERNS` (numbers and names carried over), else sentence by
sentence, else a comma-separated list item by item. Text it cannot
translate is kept as it is and recorded in :attr:`Translator.missing`, so a
run can say what a study still has to translate; text that already holds
CJK characters, or has no letters, passes through.

Tables translate after layout (:meth:`spillover.report.tables.Table.translated`),
so the numbers, their order and their keys are those of the English table.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping

#: Languages a study can render in.
LANGUAGES = ("en", "zh")

#: Fixed phrases the package writes (row labels, indicator values, methods, covariance kinds, model names).
PHRASES: dict[str, dict[str, str]] = {"zh": {
    "Model": "模型", "Dependent variable": "被解释变量", "Constant": "常数项", "Direct effects": "直接效应",
    "Indirect effects": "间接效应", "Total effects": "总效应", "Unit effects": "个体固定效应",
    "Time effects": "时间固定效应", "Method": "估计方法", "W": "空间权重矩阵", "Observations": "观测值",
    "Log-likelihood": "对数似然值", "AIC": "AIC", "Yes": "是", "No": "否", "Random": "随机",
    "R²": "R²", "R² (within)": "组内R²", "R² (between)": "组间R²", "R² (overall)": "总体R²",
    "Lee-Yu transformation": "Lee-Yu变换", "Demeaning (Elhorst)": "去均值（Elhorst）",
    "Demeaning, unbalanced (Elhorst)": "去均值，非平衡面板（Elhorst）", "Within": "组内估计",
    "Pooled OLS": "混合OLS", "Random-effects GLS": "随机效应GLS", "Maximum likelihood": "极大似然",
    "OLS": "OLS", "QML": "QML", "bias-corrected": "偏差校正", "IV-2SLS": "IV-2SLS", "IV-GMM": "IV-GMM",
    "Lee-Yu transformed": "Lee-Yu变换后", "demeaned": "去均值后", "within": "组内变换后",
    "inverse expected information": "期望信息矩阵之逆", "inverse observed Hessian": "观测Hessian矩阵之逆",
    "inverse numerical Hessian": "数值Hessian矩阵之逆", "conventional": "常规",
    "heteroskedasticity-robust": "异方差稳健", "clustered": "聚类稳健", "clustered by unit": "按个体聚类稳健",
    "HAC (kernel)": "HAC（核）", "Driscoll-Kraay": "Driscoll-Kraay",
    "Dynamic SDM": "动态SDM", "Dynamic SAR": "动态SAR", "FE": "固定效应", "RE": "随机效应",
    "SAR": "SAR", "SEM": "SEM", "SDM": "SDM", "SDEM": "SDEM", "SAC": "SAC", "GNS": "GNS", "SLX": "SLX",
    "short run": "短期", "long run": "长期", "rho": "ρ", "lambda": "λ", "R² (LSDV)": "R²（LSDV）",
    "R² (transformed)": "R²（变换后）", "First stage: partial F": "第一阶段偏F统计量",
    "Spatial 2SLS": "空间2SLS", "Generalized moments": "广义矩估计", "homoskedastic 2SLS": "同方差2SLS",
    "First stage: partial R2": "第一阶段偏R²", "Over-identification: Sargan p-value": "过度识别检验：Sargan p值",
    "Over-identification: Hansen J p-value": "过度识别检验：Hansen J p值",
    "read its estimates with care": "请谨慎解读其估计值",
    "the bias-corrected estimate is outside the stable region": "偏差校正后的估计值位于平稳域之外",
    "the optimiser did not report convergence": "优化算法未报告收敛",
    "F statistic, bootstrap p": "F统计量，自助法p值",
    "Both theta = 0 and theta + rho beta = 0 are rejected (Wald and LR).":
        "θ = 0 与 θ + ρβ = 0 均被拒绝（Wald与LR检验）。",
    "theta = 0 is not rejected and the robust LM tests point to a spatial lag.":
        "θ = 0 未被拒绝，且稳健LM检验指向空间滞后模型。",
    "The common-factor restriction is not rejected and the robust LM tests point to a spatial error.":
        "公因子约束未被拒绝，且稳健LM检验指向空间误差模型。",
    "The LM tests and the Wald/LR tests do not point to the same restricted model, so the SDM, which nests SAR and "
    "SEM, is kept (Elhorst 2010).": "LM检验与Wald/LR检验未指向同一约束模型，因此保留嵌套SAR与SEM的SDM（Elhorst 2010）。",
    "Bootstrap draws": "自助法次数", "CI high": "置信区间上限", "CI low": "置信区间下限", "Coefficient": "系数",
    "Critical value 1%": "1%临界值", "Critical value 5%": "5%临界值", "Critical value 10%": "10%临界值",
    "Direct": "直接效应", "Indirect": "间接效应", "Total": "总效应", "Equation": "方程", "Estimate": "估计值",
    "Interval": "区间", "Interval note": "区间说明", "Null hypothesis": "原假设", "Path": "路径", "SE": "标准误",
    "Statistic": "统计量", "Test": "检验", "Threshold": "门槛", "Units": "个体数", "df": "自由度",
    "p (bootstrap)": "p值（自助法）", "beta": "β", "theta": "θ", "both": "β与θ", "a path": "a路径", "b path": "b路径",
    "total effect c": "总效应c", "direct effect c'": "直接效应c'", "indirect a*b (Sobel)": "间接效应a*b（Sobel）",
    "normal": "正态近似", "lower bound cut by the trimming": "下限受截尾限制", "upper bound cut by the trimming":
    "上限受截尾限制", "lower and upper bound cut by the trimming": "上下限均受截尾限制",
    "x -> m -> y (mediated BA)": "x -> m -> y（中介效应BA）", "x -> y (total, SDM without m)": "x -> y（总效应，不含m的SDM）",
    "x -> y \\| m (unmediated)": "x -> y \\| m（非中介部分）", "two-way fixed effects": "双向固定效应",
    "unit fixed effects": "个体固定效应", "time fixed effects": "时间固定效应", "no fixed effects": "无固定效应",
    "excluded": "剔除", "interpolated (flagged)": "插补（已标记）", "kept out of balanced panel": "未纳入平衡面板",
    "left out of index": "未纳入指数", "reference only (not used)": "仅供参考（未使用）",
    "replaced (bad cross-section)": "替换（截面异常）", "replaced (recomputed from counts)": "替换（由计数重新计算）",
    "replaced by other vintage": "以其他版本替换", "row ignored": "忽略该行",
    "year-on-year jump (flagged)": "同比跳变（已标记）", "year-on-year jump (strict)": "同比跳变（严格）",
    "Variable": "变量", "Year": "年份", "Mean": "均值", "SD": "标准差", "Min": "最小值", "Max": "最大值",
    "Sample": "样本", "Specification": "设定", "Effects": "固定效应", "Error": "错误信息", "Points to": "指向",
    "p-value": "p值", "p (normal, two-sided)": "p值（正态近似，双侧）", "p (permutation, one-sided)": "p值（置换，单侧）",
    "Global Moran's I by year": "逐年全局Moran's I", "LM lag": "LM滞后检验", "LM error": "LM误差检验",
    "Robust LM lag": "稳健LM滞后检验", "Robust LM error": "稳健LM误差检验", "Hausman FE vs RE": "Hausman检验（固定效应对随机效应）",
    "LR SDM vs SAR": "LR检验（SDM对SAR）", "LR SDM vs SEM": "LR检验（SDM对SEM）", "Wald SDM vs SAR": "Wald检验（SDM对SAR）",
    "Wald SDM vs SEM": "Wald检验（SDM对SEM）", "LR unit effects": "LR检验：个体固定效应", "LR time effects": "LR检验：时间固定效应",
    "No fixed effects": "无固定效应", "Unit fixed effects": "个体固定效应", "Time fixed effects": "时间固定效应",
    "Two-way fixed effects": "双向固定效应", "Random effects": "随机效应", "keep unit effects": "保留个体固定效应",
    "drop unit effects": "剔除个体固定效应", "keep time effects": "保留时间固定效应", "drop time effects": "剔除时间固定效应",
    "undefined (negative statistic)": "无定义（统计量为负）", "fixed effects": "固定效应", "random effects": "随机效应",
    "OLS with and without these effects, likelihoods compared": "OLS（含与不含该效应），比较似然值",
    "Wald SLX vs OLS": "Wald检验（SLX对OLS）", "Wald SDM vs SLX": "Wald检验（SDM对SLX）",
    "Wald SDEM vs SLX": "Wald检验（SDEM对SLX）",
    "SDM, random effects with unit means (Mundlak), cluster-robust Wald":
        "SDM，加入个体均值的随机效应模型（Mundlak），聚类稳健Wald检验",
    "SDM, unit fixed vs random effects, slopes (splm sphtest)": "SDM，个体固定效应对随机效应，斜率系数（splm sphtest）",
    "SDM, unit fixed vs random effects, all common coefficients": "SDM，个体固定效应对随机效应，全部共同系数",
    "No LM test rejects, the W X terms are not significant (Wald in the SLX, Wald and LR in the SDM) and neither rho "
    "(SDM) nor lambda (SDEM) is, so no spatial model is needed: OLS with the effects kept (Halleck Vega & Elhorst "
    "2015).": "所有LM检验均未拒绝原假设，W X项不显著（SLX中的Wald检验，SDM中的Wald与LR检验），SDM中的ρ与SDEM中的λ"
              "亦不显著，因此无需空间模型：选用保留相应固定效应的OLS（Halleck Vega & Elhorst 2015）。",
    "The W X terms are significant (Wald in the SLX, or Wald or LR in the SDM) but neither rho (SDM) nor lambda "
    "(SDEM) is, so the SLX model is chosen (Halleck Vega & Elhorst 2015).":
        "W X项显著（SLX中的Wald检验，或SDM中的Wald或LR检验），而SDM中的ρ与SDEM中的λ均不显著，因此选用SLX模型"
        "（Halleck Vega & Elhorst 2015）。",
    "Unit effects are dropped (LR test).": "剔除个体固定效应（LR检验）。",
    "Time effects are dropped (LR test).": "剔除时间固定效应（LR检验）。",
    "Unit and time effects are dropped (LR test).": "剔除个体与时间固定效应（LR检验）。",
    "delta": "delta方法", "simulation": "模拟",
    "log-determinant and traces by Monte Carlo (Barry & Pace 1999), an approximation; logdet='lu' is exact":
        "对数行列式与迹由蒙特卡洛方法近似计算（Barry & Pace 1999）；logdet='lu'为精确计算",
    "Log-marginal likelihood": "对数边际似然", "Posterior probability": "后验概率",
    "uniform on the admissible interval of rho or lambda": "ρ或λ在可行区间上服从均匀先验",
    "beta(1.01, 1.01) on (-1, 1) for rho or lambda": "ρ或λ在(-1, 1)上服从Beta(1.01, 1.01)先验",
    # descriptive analyses (spillover.study.descriptive): regional gaps, densities, convergence, coupling, obstacles
    "Gini G": "基尼系数G", "Within G_w": "组内差异", "Net between G_nb": "组间净差异", "Transvariation G_t": "超变密度",
    "Within (%)": "组内差异贡献率（%）", "Net between (%)": "组间净差异贡献率（%）",
    "Transvariation (%)": "超变密度贡献率（%）", "Theil T": "泰尔指数", "Within groups": "组内差异",
    "Between groups": "组间差异", "Within groups (%)": "组内贡献率（%）", "Between groups (%)": "组间贡献率（%）",
    "CV": "变异系数", "Gini": "基尼系数", "Bandwidth h": "带宽h", "Mode": "众数", "Peak density": "峰值密度",
    "Spatial parameter": "空间参数", "Speed (% per period)": "收敛速度（%/期）", "Half-life (periods)": "半衰期（期）",
    "Sigma: trend of the CV": "σ收敛：变异系数的趋势", "Sigma: trend of the Gini": "σ收敛：基尼系数的趋势",
    "Absolute beta": "绝对β收敛", "Conditional beta": "条件β收敛", "Spatial beta": "空间β收敛",
    "Coupling C": "耦合度C", "Development T": "综合发展指数T", "Coordination D": "耦合协调度D", "Class": "协调等级",
    "extreme disorder": "极度失调", "serious disorder": "严重失调", "moderate disorder": "中度失调",
    "mild disorder": "轻度失调", "on the verge of disorder": "濒临失调", "barely coordinated": "勉强协调",
    "primary coordination": "初级协调", "intermediate coordination": "中级协调", "good coordination": "良好协调",
    "high-quality coordination": "优质协调",
    "Kernel density estimates by year: bandwidth, mode and peak": "逐年核密度估计：带宽、众数与峰值",
    "G = G_w + G_nb + G_t: the Gini within groups, the net Gini between groups and the transvariation (overlap of "
    "the groups' distributions); contributions are shares of G in percent.":
        "总体基尼系数G分解为组内差异、组间净差异与超变密度（各组分布的交叠）三部分；贡献率为各部分占G的百分比。",
    "G_jh: mean absolute difference between the units of two groups over the sum of their means (Dagum 1997).":
        "组间基尼系数：两组个体之间差值绝对值的均值除以两组均值之和（Dagum 1997）。",
    "Theil index T (GE(1)) = within + between (Shorrocks 1980); contributions are shares of T in percent.":
        "泰尔指数（参数为1的广义熵指数）= 组内差异 + 组间差异（Shorrocks 1980）；贡献率为各部分占泰尔指数的百分比。",
    "CV: standard deviation (population) over the mean.": "变异系数：总体标准差除以均值。",
    "Sigma: OLS slope of the dispersion on the year (negative: the gap narrows).":
        "σ收敛：离散程度对年份的OLS回归斜率（为负表示差距缩小）。",
    "Speed s = -ln(1 + beta) per period and half-life ln 2 / s in periods (Barro & Sala-i-Martin 1992).":
        "收敛速度s = -ln(1 + β)（每期），半衰期 = ln 2 / s（期）（Barro & Sala-i-Martin 1992）。",
    "Observations: years for sigma, unit-years of growth for beta.": "观测值：σ收敛为年数，β收敛为个体-年份的增长率观测数。",
    "SD: population standard deviation; CV = SD / mean; Gini as in Dagum (1997).":
        "标准差为总体标准差；变异系数 = 标准差 / 均值；基尼系数按Dagum（1997）计算。",
    "Classes of D in steps of 0.1, from extreme disorder [0, 0.1) to high-quality coordination [0.9, 1].":
        "耦合协调度D按0.1的步长分为十个等级，从极度失调[0, 0.1)到优质协调[0.9, 1]。",
    "Obstacle degree O_ij = w_j (1 - z_ij) / sum_k w_k (1 - z_ik), with w_j the index weight and z_ij the min-max "
    "normalised value (direction applied); means over the units of each year, in percent; a dimension's degree is "
    "the sum of its indicators'.": "障碍度：指标权重与（1 - 极差标准化值，已按指标方向处理）之积占全部指标该乘积之和的比重；"
                                   "按年份对各个体取均值，以百分比表示；维度障碍度为其所含指标障碍度之和。",
    "h = n^(-1/5) × SD (Scott 1992)": "h = n^(-1/5) × 标准差（Scott 1992）",
    "h = (3n/4)^(-1/5) × SD (Silverman 1986, scipy's form)": "h = (3n/4)^(-1/5) × 标准差（Silverman 1986）",
    # Markov chains (spillover.study.descriptive): class names, tests, notes
    "low": "低水平", "lower-middle": "中低水平", "middle": "中等水平", "upper-middle": "中高水平", "high": "高水平",
    "Steady state": "稳态分布", "LR (spatial homogeneity)": "LR检验（空间同质性）",
    "Q (spatial homogeneity)": "Q检验（空间同质性）", "LISA Markov chi-squared (independence)": "LISA马尔可夫χ²检验（独立性）",
    "Rows: class in period t; columns: class in period t+1; n: transitions out of the row's class; probabilities: "
    "the shares of those transitions that end in each column's class (Anderson & Goodman 1957).":
        "行为t期类型，列为t+1期类型；n为由该行类型出发的转移次数；转移概率为其中转入各列类型的比例"
        "（Anderson & Goodman 1957）。",
    "Steady state: the ergodic distribution of the chain.": "稳态分布：马尔可夫链的遍历分布。",
    "Classes: quantiles of each period.": "类型划分：按各期自身的分位数划分。",
    "Spatial lag: the neighbours' average under W (row-standardised) at t (Rey 2001).":
        "空间滞后：t期邻域单元在行标准化空间权重矩阵下的加权平均值（Rey 2001）。",
    "Neighbours' classes: quantiles of each period's spatial lag.": "邻域类型：按各期空间滞后值的分位数划分。",
    "Neighbours' classes: the same cut points.": "邻域类型：采用相同的分界点。",
    "LR and Q: H0 the transition probabilities do not depend on the neighbours' class; df = sum over classes i of "
    "(b_i - 1)(a_i - 1) without empty cells (Bickenbach & Bode 2003).":
        "LR与Q检验的原假设：转移概率与邻域类型无关（空间同质）；自由度 = 对各类型i求和(b_i - 1)(a_i - 1)，不计空单元"
        "（Bickenbach & Bode 2003）。",
    "LISA Markov: H0 a unit's moves between the Moran scatterplot quadrants are independent of its neighbours' "
    "moves (Rey, Murray & Anselin 2011).": "LISA马尔可夫检验的原假设：单元自身在Moran散点图象限间的跃迁与其邻域的跃迁"
                                           "相互独立（Rey, Murray & Anselin 2011）。",
}}

#: Generated sentences: (English regular expression, template in the target language; groups as {1}, {2}, ...).
PATTERNS: dict[str, list[tuple[str, str]]] = {"zh": [
    # descriptive analyses (before the generic "text (note)" patterns below, which would split them)
    (r"Dagum \(1997\) Gini decomposition by (.+)", "按{1}分组的Dagum（1997）基尼系数分解"),
    (r"Gini within each group \((.+)\)", "各组组内基尼系数（分组：{1}）"),
    (r"Gini between each pair of groups \((.+)\)", "两两组间基尼系数（分组：{1}）"),
    (r"Theil decomposition by (.+) and coefficient of variation", "按{1}分组的泰尔指数分解与变异系数"),
    (r"Groups and their numbers of units: (.+)\.", "各组及其个体数：{1}。"),
    (r"Gaussian kernel; bandwidth (.+), per year; densities on one grid of (\d+) points; the mode is the grid point "
     r"of the highest density\.", "高斯核；带宽{1}，逐年计算；各年密度在同一组{2}个格点上计算；众数为密度最高的格点。"),
    (r"Gaussian kernel, bandwidth (.+) per year\.", "高斯核，带宽{1}，逐年计算。"),
    (r"h = ([\d.eE+-]+) × SD \(fixed factor\)", "h = {1} × 标准差（固定系数）"),
    (r"Convergence of (.+): sigma, beta and spatial beta", "{1}的收敛性：σ收敛、β收敛与空间β收敛"),
    (r"Sigma convergence of (.+): dispersion by year", "{1}的σ收敛：逐年离散程度"),
    (r"Beta: growth ln x\(t\) - ln x\(t-1\) on ln x\(t-1\) with (.+) \(negative: convergence\); conditional: with "
     r"(.+) at t-1\.", "β收敛：对数增长率对上一期对数水平回归，含{1}（为负表示收敛）；条件β收敛另含滞后一期的{2}。"),
    (r"Beta: growth ln x\(t\) - ln x\(t-1\) on ln x\(t-1\) with (.+) \(negative: convergence\)\.",
     "β收敛：对数增长率对上一期对数水平回归，含{1}（为负表示收敛）。"),
    (r"Spatial beta: the same regression as an? (\w+) under each W \((.+)\); spatial parameter: rho \(SAR, SDM\) or "
     r"lambda \(SEM\)\.", "空间β收敛：在各空间权重矩阵下以{1}估计同一回归（{2}）；空间参数为ρ（SAR、SDM）或λ（SEM）。"),
    (r"C = 2 sqrt\(U1 U2\) / \(U1 \+ U2\) with U1 = (.+) and U2 = (.+), T = ([\d.]+) U1 \+ ([\d.]+) U2, D = "
     r"sqrt\(C T\) \(Liu, Li & Song 2005\)\.",
     "C = 2√(U1·U2) / (U1 + U2)，其中U1为{1}，U2为{2}；T = {3}·U1 + {4}·U2；D = √(C·T)（Liu, Li & Song 2005）。"),
    (r"Group columns: mean D of the units in each (.+)\.", "分组列：各{1}内个体耦合协调度D的均值。"),
    (r"Coupling coordination of (.+) and (.+): means by year", "{1}与{2}的耦合协调度：逐年均值"),
    (r"Units in each coordination class by year \((.+) and (.+)\)", "各协调等级的个体数（{1}与{2}）"),
    (r"Coupling coordination of (.+) and (.+) by unit and year", "{1}与{2}的耦合协调度：分个体与年份"),
    (r"Obstacle degrees of the (.+) indicators by year \(%\)", "{1}各指标的障碍度（%）"),
    (r"Obstacle degrees of the (.+) dimensions by year \(%\)", "{1}各维度的障碍度（%）"),
    (r"Classic Markov transition probabilities of (.+) \((\d+) classes\)", "{1}的传统马尔可夫转移概率矩阵（{2}种类型）"),
    (r"Spatial Markov transition probabilities of (.+) by the neighbours' class \(W: (.+)\)",
     "{1}的空间马尔可夫转移概率矩阵（按邻域类型；空间权重矩阵：{2}）"),
    (r"Markov chain tests: spatial homogeneity and LISA transitions \(W: (.+)\)",
     "马尔可夫链检验：空间同质性与LISA跃迁独立性（空间权重矩阵：{1}）"),
    (r"Neighbours' class: (.+)", "邻域类型：{1}"),
    (r"class (\d+)", "第{1}类"),
    (r"Classes: quantiles of all periods pooled; class bounds ([\d.,\s-]+)\.",
     "类型划分：按全部时期数值合并后的分位数划分，分界点为{1}。"),
    (r"Classes: fixed cut points ([\d.,\s-]+)\.", "类型划分：按固定分界点{1}划分。"),
    (r"Neighbours' classes: quantiles of the spatial lag of all periods pooled; class bounds ([\d.,\s-]+)\.",
     "邻域类型：按全部时期空间滞后值合并后的分位数划分，分界点为{1}。"),
    (r"trend per period, (\d+)-(\d+)", "逐期趋势，{1}-{2}年"),
    (r"Standard errors in parentheses\.", "括号内为标准误。"),
    (r"t statistics \(z for maximum likelihood\) in parentheses\.", "括号内为t统计量（极大似然估计为z统计量）。"),
    (r"Standard errors in parentheses; standard errors: (.+)\.", "括号内为标准误；标准误：{1}。"),
    (r"t statistics \(z for maximum likelihood\) in parentheses; standard errors: (.+)\.",
     "括号内为t统计量（极大似然估计为z统计量）；标准误：{1}。"),
    (r"(.+) \(([^()]+)\)", "{1}（{2}）"),
    (r"(.+?) \((.+)\)", "{1}（{2}）"),
    (r"Direct, indirect and total effects \(LeSage & Pace 2009\): standard errors from ([\d,]+) draws of the "
     r"estimates' asymptotic distribution \(seed (\d+)\)\.",
     "直接、间接与总效应（LeSage & Pace 2009）：标准误基于估计量渐近分布的{1}次抽样（随机种子{2}）。"),
    (r"Direct, indirect and total effects \(LeSage & Pace 2009\): standard errors by the delta method\.",
     "直接、间接与总效应（LeSage & Pace 2009）：标准误由delta方法计算。"),
    (r"(\*+ p<[\d.]+(?:, \*+ p<[\d.]+)*)\.", "{1}。"),
    (r"† (.+): (.+); read its estimates with care\.", "† {1}：{2}；请谨慎解读其估计值。"),
    (r"(.+): bias-corrected estimates \(Yu, de Jong & Lee 2008, Theorem 3\) with the standard errors of the QML "
     r"estimate, which has the same asymptotic variance; no likelihood of its own\.",
     "{1}：按Yu, de Jong & Lee（2008）定理3进行偏差校正的估计值，标准误沿用渐近方差相同的QML估计，无自身的似然值。"),
    (r"(.+): the estimate lies outside the stable region \(spectral radius of A = ([\d.]+) >= 1\), so long-run "
     r"effects are not defined and left blank\.",
     "{1}：估计值位于平稳域之外（矩阵A的谱半径 = {2} ≥ 1），长期效应无定义，留空。"),
    (r"(.+): (\d+) of (\d+) observations \(cells with interpolated (.+) dropped\); per-period W restricted to the "
     r"observed units; without an observed neighbour \(spatial lags 0 in that year\): (.+)\.",
     "{1}：{3}个观测中保留{2}个（剔除插补的{4}）；各期W仅含当期有观测的个体；当期无有观测邻居的个体（空间滞后为0）：{5}。"),
    (r"(.+): (\d+) of (\d+) observations \(cells with interpolated (.+) dropped\); per-period W restricted to the "
     r"observed units\.", "{1}：{3}个观测中保留{2}个（剔除插补的{4}）；各期W仅含当期有观测的个体。"),
    (r"(.+): (.+)\.", "{1}：{2}。"),
    (r"(.+), (short run|long run)", "{1}，{2}"),
    (r"(.+) \(t-1\)", "{1}（t-1）"),
    (r"W × (.+)", "W × {1}"),
    (r"(Direct|Indirect|Total) (SE|p|CI low|CI high)", "{1}{2}"),
    (r"gamma(\d)", "γ{1}"),
    (r"cluster bootstrap percentile \((\d+)\)", "按个体聚类自助法百分位区间（{1}次）"),
    (r"Mediation of (.+) through (.+) \((.+)\)", "{1}经由{2}的中介效应（{3}）"),
    (r"Spatial mediation of (.+) through (.+) \(SDM impacts, W: (.+)\)", "{1}经由{2}的空间中介效应（SDM效应，空间权重：{3}）"),
    (r"Paths after Baron & Kenny \(1986\); the mediated effect a\*b with the Sobel \(1982\) standard error and a "
     r"percentile interval from (\d+) cluster-bootstrap samples by unit \(seed (\d+)\); other intervals: estimate "
     r"\+/- 1\.96 SE\.", "路径按Baron & Kenny（1986）；中介效应a*b的标准误采用Sobel（1982）方法，其百分位区间来自按个体"
     "聚类的{1}次自助法抽样（随机种子{2}）；其余区间为估计值±1.96倍标准误。"),
    (r"x: (.+); m: (.+); y: (.+)\. Standard errors and 95% percentile intervals from (\d+) draws of each SDM's "
     r"estimates \(seed (\d+)\)\.", "x：{1}；m：{2}；y：{3}。标准误与95%百分位区间来自各SDM估计量的{4}次抽样（随机种子{5}）。"),
    (r"Hansen \(1999\) threshold tests, threshold variable (.+)", "Hansen（1999）门槛效应检验，门槛变量：{1}"),
    (r"F tests of k against k - 1 thresholds, p-values from (\d+) bootstrap samples \(seed (\d+)\); 95% intervals "
     r"invert the likelihood ratio \(Hansen 1999, eq\. 16\)\.",
     "k个对k-1个门槛的F检验，p值来自{1}次自助法抽样（随机种子{2}）；95%置信区间由似然比反推（Hansen 1999，式16）。"),
    (r"Threshold model coefficients \(q: (.+)\)", "门槛模型系数（q：{1}）"),
    (r"Wald tests of equal regional effects of (.+)", "{1}区域效应相等的Wald检验"),
    (r"Regional impacts of (.+) \(regime SDM\)", "{1}的分区域效应（区制SDM）"),
    (r"Wald equal (.+) \((beta|theta|beta, theta)\)", "{1}相等的Wald检验（{2}）"),
    (r"the coefficient of (.+) \((beta|theta)\) is equal across (.+)", "{1}的系数（{2}）在各{3}间相等"),
    (r"the coefficients of (.+) and (.+) are equal across (.+)", "{1}与{2}的系数在各{3}间相等"),
    (r"Wald statistic, df (\d+)", "Wald统计量，自由度{1}"),
    (r"(.+) per 10,000 residents", "每万人{1}"),
    (r"Descriptive statistics, (\d+) (.+), (\d+)-(\d+)", "描述性统计（{1}个{2}，{3}-{4}年）"),
    (r"E\[I\] = -1/\(N-1\) and z under the normality assumption \(Cliff & Ord 1981\); the permutation p-value is "
     r"one-sided in the direction of the observed I \(([\d, ]+) random permutations, esda's folded pseudo p-value\)\.",
     "E[I] = -1/(N-1)，z值基于正态性假设（Cliff & Ord 1981）；置换p值为沿观测I方向的单侧p值（{1}次随机置换，esda的折叠伪p值）。"),
    (r"LM tests on the non-spatial model with the same effects: classic \(Anselin 1988\) and robust \(Anselin, Bera, "
     r"Florax & Yoon 1996\) in the panel form of Elhorst \(2014, section 3\.3\), each chi-squared\(1\)\.",
     "LM检验基于含相同固定效应的非空间模型：经典形式（Anselin 1988）与稳健形式（Anselin, Bera, Florax & Yoon 1996），"
     "采用Elhorst（2014，3.3节）的面板形式，均服从自由度为1的卡方分布。"),
    (r"Chosen model: \*\*(.+)\*\*\.", "选定模型：**{1}**。"),
    (r"Bayesian comparison of spatial models \((.+); (.+)\)", "空间模型的贝叶斯比较（{1}；{2}）"),
    (r"Log-marginal likelihoods and posterior model probabilities with equal prior probabilities over the rows "
     r"\(LeSage 2014, Spatial Statistics 9, 122-145\): flat priors on the coefficients, 1/sigma on sigma, (.+); the "
     r"marginal integrates the spatial parameter numerically\.",
     "对数边际似然与后验模型概率，各行先验概率相等（LeSage 2014）：系数采用平坦先验，σ采用1/σ先验，{1}；"
     "边际似然对空间参数数值积分。"),
    (r"The spatial models are fitted with (.+)\.", "空间模型在{1}下估计。"),
    (r"Specification tests \((.+); W: (.+)\)", "设定检验（{1}；空间权重矩阵：{2}）"),
    (r"Specification grid: (\w+) (.+); effects of (.+) \((\w+) standard errors\); (\d+) of (\d+) specifications "
     r"estimated", "设定网格：{1} {2}；{3}的效应（标准误：{4}）；{6}个设定中估计成功{5}个"),
    (r"Direct effect positive and significant at 5% in (\d+) of (\d+); indirect in (\d+)\.",
     "{2}个设定中直接效应在5%水平上显著为正的有{1}个，间接效应有{3}个。"),
]}

_CJK = re.compile(r"[\u3400-\u9fff\uf900-\ufaff]")
_LETTERS = re.compile(r"[A-Za-z]{2,}")


def _ACRONYMS_ONLY(text: str) -> bool:  # noqa: N802 -- reads as a predicate on the text
    return all(w.isupper() for w in _LETTERS.findall(text))


class Translator:
    """English display text -> ``language``; ``extra`` (a study's translations) wins over the package's phrases.

    Parameters
    ----------
    language : {"en", "zh"}
    extra : mapping of str to str, optional
        English text -> translation, exact match (titles, notes, column names, labels of a study).
    """

    def __init__(self, language: str, extra: Mapping[str, str] | None = None):
        if language not in LANGUAGES:
            raise ValueError(f"unknown language {language!r}; use one of {LANGUAGES}")
        self.language = language
        self.phrases = {**PHRASES.get(language, {}), **dict(extra or {})}
        self.patterns = [(re.compile(p + r"\Z"), t) for p, t in PATTERNS.get(language, [])]
        self.done = set(self.phrases.values())
        self.missing: set[str] = set()

    def __call__(self, text: str) -> str:
        if self.language == "en" or not text:
            return text
        body = text.strip()
        mark = body[len(body.rstrip("†*")):]  # a flag mark or stars after a model name stay as they are
        out = self._translate(body[:len(body) - len(mark)] if mark else body)
        return out + mark if out is not None else self._miss(text)

    def _miss(self, text: str) -> str:
        self.missing.add(text)
        return text

    def _translate(self, text: str, depth: int = 0) -> str | None:
        if text in self.phrases:
            return self.phrases[text]
        if not _LETTERS.search(text) or text in self.done or (_CJK.search(text) and _ACRONYMS_ONLY(text)):
            return text  # no words, a translation already, or Chinese with acronyms only ("动态SDM，QML")
        if depth > 4:
            return None
        for pattern, template in self.patterns:
            m = pattern.match(text)
            if m:
                parts = [self._translate(g, depth + 1) if g is not None else "" for g in m.groups()]
                if all(p is not None for p in parts):
                    return template.format(None, *parts)
        for sep, joiner in ((r"(?<=\.)\s+", ""), (r"; ", "；"), (r", ", "，"), (r" ~ ", " ~ "), (r" \+ ", " + ")):
            pieces = re.split(sep, text)
            if len(pieces) > 1:
                done = [self._translate(p, depth + 1) for p in pieces]
                if all(d is not None for d in done):
                    return joiner.join(done)
        return None


def identity(text: str) -> str:
    """The translator of the study's own language."""
    return text


TranslateFn = Callable[[str], str]
