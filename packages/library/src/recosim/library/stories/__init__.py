"""Stories: functions and `Story` classes that create entities' variables and bind their behaviours."""
