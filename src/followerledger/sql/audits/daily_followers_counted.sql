-- daily_followers_counted: rows without a follower count. A day without a count has no row.
select *
from daily_followers
where followers is null
