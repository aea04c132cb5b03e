-- incidents_daily: as incidents_monthly, by calendar day (Europe/London) of occurred_at.
-- police.uk imports carry month-only dates, so they all fall on the first day of their month.
SELECT
    day,
    month,
    lsoa_code,
    msoa_code,
    ward_code,
    lad_code,
    csp_code,
    force_area_code,
    in_force_area,
    place_status,
    crime_type,
    property_type,
    COUNT(*) AS incidents
FROM incident_facts
WHERE status <> 'cancelled'
GROUP BY
    day, month, lsoa_code, msoa_code, ward_code, lad_code, csp_code, force_area_code,
    in_force_area, place_status, crime_type, property_type
-- The ORDER BY lists every GROUP BY column, so no two output rows tie and a replay writes the
-- rows (and so the Parquet bytes) in the same order. NULLs sort last (DataFusion's default).
ORDER BY
    day, lsoa_code, crime_type, property_type, place_status,
    month, msoa_code, ward_code, lad_code, csp_code, force_area_code, in_force_area
