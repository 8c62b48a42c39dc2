"""Analytics: how regions and bodies react (shares, percentiles, daily trend, a fair rating, CSV)."""
