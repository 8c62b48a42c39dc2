"""Open311 GeoReport v2 over incidents: the router, its schemas, the mapping and the XML format."""
