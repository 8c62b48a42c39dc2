-- Each service owns its database; none reads another's.
CREATE DATABASE collector;
CREATE DATABASE classifier;
CREATE DATABASE routing;
CREATE DATABASE gateway;
