-- business_crime_monthly: business-crime reports per month by place x sector x incident type,
-- with the loss total (GBP; reports without a loss value count as 0 loss but still count).
-- Withdrawn reports are tombstones in the facts and are excluded.
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
    sector,
    incident_type,
    property_type,
    COUNT(*) AS incidents,
    SUM(CAST(COALESCE(loss_value, 0) AS DECIMAL(18, 2))) AS loss_total
FROM business_crime_facts
WHERE status <> 'withdrawn'
GROUP BY
    month, lsoa_code, msoa_code, ward_code, lad_code, csp_code, force_area_code,
    in_force_area, place_status, sector, incident_type, property_type
-- The ORDER BY lists every GROUP BY column, so no two output rows tie and a replay writes the
-- rows (and so the Parquet bytes) in the same order. NULLs sort last (DataFusion's default).
ORDER BY
    month, lsoa_code, sector, incident_type,
    msoa_code, ward_code, lad_code, csp_code, force_area_code, in_force_area, place_status,
    property_type
