"""What a planner reads: the report (:mod:`.report`), the Gantt rows and charts
(:mod:`.gantt`) and pre-solve diagnosis of infeasibility (:mod:`.diagnose`)."""
