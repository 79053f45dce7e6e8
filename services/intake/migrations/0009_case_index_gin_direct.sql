-- The array indexes take each new entry at once instead of in a pending list. With the
-- list (PostgreSQL's default, `fastupdate`), every search scans all entries added since the
-- last vacuum: under a steady flow of registrations the duplicate search of a returning
-- petitioner (`petitioner_ids &&`) went from 0.24 ms to 1.7 ms a registration as the list
-- grew to ~17,000 entries between vacuums. A row's arrays are a few codes, so writing
-- them straight into the index costs little. The log of reads of personal data, searched
-- by petitioner for an audit, likewise.
ALTER INDEX case_index_petitioners SET (fastupdate = off);
ALTER INDEX case_index_path SET (fastupdate = off);
ALTER INDEX case_index_barred SET (fastupdate = off);
ALTER INDEX personal_data_reads_petitioners SET (fastupdate = off);
SELECT gin_clean_pending_list('case_index_petitioners'::regclass);
SELECT gin_clean_pending_list('case_index_path'::regclass);
SELECT gin_clean_pending_list('case_index_barred'::regclass);
SELECT gin_clean_pending_list('personal_data_reads_petitioners'::regclass);
