"""Workers: frames -> results. OpenVINO detector and depth as competing-consumer groups."""
