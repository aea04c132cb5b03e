-- cybercrime_monthly: fraud and computer-misuse reports per month by victim place x NFIB code x
-- victim kind, with the loss total (GBP). Unknown NFIB codes are counted under their own code
-- (nfib_group = 'unknown'). Victims placed only by postcode district keep that district.
-- Reports without a loss value count as 0 loss but still count; withdrawn reports are tombstones
-- in the facts and are excluded.
-- Money is exact: each loss (a DOUBLE in the facts) is rounded to the nearest penny as
-- DECIMAL(18, 2) before summing, so loss_total is DECIMAL(28, 2) and does not depend on the order
-- in which parallel aggregation adds the values (a float sum could differ in its last digits
-- between a run and its crash-replay).
SELECT
    month,
    lsoa_code,
    msoa_code,
    ward_code,
    lad_code,
    csp_code,
    force_area_code,
    in_force_area,
    place_status,
    postcode_district,
    fraud_code,
    nfib_group,
    victim_kind,
    COUNT(*) AS reports,
    SUM(CAST(COALESCE(loss_value, 0) AS DECIMAL(18, 2))) AS loss_total
FROM cybercrime_facts
WHERE status <> 'withdrawn'
GROUP BY
    month, lsoa_code, msoa_code, ward_code, lad_code, csp_code, force_area_code,
    in_force_area, place_status, postcode_district, fraud_code, nfib_group, victim_kind
-- The ORDER BY lists every GROUP BY column, so no two output rows tie and a replay writes the
-- rows (and so the Parquet bytes) in the same order. NULLs sort last (DataFusion's default).
ORDER BY
    month, lsoa_code, postcode_district, fraud_code, victim_kind,
    msoa_code, ward_code, lad_code, csp_code, force_area_code, in_force_area, place_status,
    nfib_group
