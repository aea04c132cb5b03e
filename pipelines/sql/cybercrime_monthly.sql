-- cybercrime_monthly: fraud and computer-misuse reports per month by victim place x NFIB code x
-- victim kind, with the loss total (GBP). Unknown NFIB codes are counted under their own code
-- (nfib_group = 'unknown'). Victims placed only by postcode district keep that district.
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
    SUM(COALESCE(loss_value, 0.0)) AS loss_total
FROM cybercrime_facts
WHERE status <> 'withdrawn'
GROUP BY
    month, lsoa_code, msoa_code, ward_code, lad_code, csp_code, force_area_code,
    in_force_area, place_status, postcode_district, fraud_code, nfib_group, victim_kind
ORDER BY
    month, lsoa_code, postcode_district, fraud_code, victim_kind
