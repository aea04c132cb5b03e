-- incidents_monthly: recorded crime and ASB per calendar month (Europe/London) by place x crime type x property type.
-- Input: incident_facts, the latest version of every incident record (one row per record_id).
-- Cancelled ("no-crimed") records stay in the facts as tombstones so an older version can never
-- resurrect them; they are excluded here.
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
    crime_type,
    property_type,
    COUNT(*) AS incidents
FROM incident_facts
WHERE status <> 'cancelled'
GROUP BY
    month, lsoa_code, msoa_code, ward_code, lad_code, csp_code, force_area_code,
    in_force_area, place_status, crime_type, property_type
-- The ORDER BY lists every GROUP BY column, so no two output rows tie and a replay writes the
-- rows (and so the Parquet bytes) in the same order. NULLs sort last (DataFusion's default).
ORDER BY
    month, lsoa_code, crime_type, property_type, place_status,
    msoa_code, ward_code, lad_code, csp_code, force_area_code, in_force_area
