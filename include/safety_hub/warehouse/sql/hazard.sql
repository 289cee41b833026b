-- hazard: one row per real hazard (accumulating snapshot), as known on :as_of
-- (the latest loaded business date). The SELECT is hazard_asof.sql.
INSERT INTO hazard (identity_key, uscc, org_name, district_code, description, found_date, grade, is_major,
                    deadline, fixed_date, accepted_date, closed_date, listed_supervision, status, status_rank, is_closed,
                    sources, n_sources, n_versions, first_reported_at, last_updated_at)
{hazard_asof}
