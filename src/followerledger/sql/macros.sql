-- Macros shared by every model. `handle_key` must agree with watchlist.normalize_handle:
-- handles compare case-insensitively without a leading '@', except YouTube channel ids and
-- Bluesky DIDs, which are case-sensitive identifiers.
create or replace macro handle_key(platform, handle) as
    case
        when platform = 'youtube' and handle like 'UC%' then handle
        when platform = 'bluesky' and handle like 'did:%' then handle
        else lower(ltrim(handle, '@'))
    end;

create or replace macro utc_day(moment) as cast(timezone('UTC', moment) as date);
