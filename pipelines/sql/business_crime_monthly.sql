-- business_crime_monthly: business-crime reports per month by place x sector x incident type,
-- with the loss total (GBP; reports without a loss value count as 0 loss but still count).
-- Withdrawn reports are tombstones in the facts and are excluded.
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
    SUM(COALESCE(loss_value, 0.0)) AS loss_total
FROM business_crime_facts
WHERE status <> 'withdrawn'
GROUP BY
    month, lsoa_code, msoa_code, ward_code, lad_code, csp_code, force_area_code,
    in_force_area, place_status, sector, incident_type, property_type
ORDER BY
    month, lsoa_code, sector, incident_type
