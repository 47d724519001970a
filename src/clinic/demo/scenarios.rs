//! Fictional visit scenarios: the reason for a visit, its SOAP note, and what was prescribed.

pub struct Rx {
    pub medication_name: &'static str,
    pub dosage: &'static str,
    pub route: &'static str,
    pub frequency: &'static str,
    pub quantity: i32,
    pub refills: i32,
    pub instructions: &'static str,
}

pub struct Scenario {
    pub reason: &'static str,
    pub subjective: &'static str,
    pub objective: &'static str,
    pub assessment: &'static str,
    pub plan: &'static str,
    pub rx: Option<Rx>,
}

/// The scenarios a provider of this specialty sees.
pub fn for_specialty(specialty: Option<&str>) -> &'static [Scenario] {
    match specialty {
        Some("Pediatrics") => PEDIATRICS,
        Some("Dermatology") => DERMATOLOGY,
        _ => PRIMARY_CARE,
    }
}

pub const CANCELLATION_REASONS: &[&str] = &[
    "Patient asked to reschedule",
    "Patient feeling better",
    "Provider unavailable",
    "Scheduling conflict at work",
    "Transportation problem",
];

const PRIMARY_CARE: &[Scenario] = &[
    Scenario {
        reason: "Annual physical",
        subjective: "Here for a yearly check-up. No complaints. Exercises twice a week, non-smoker.",
        objective: "BP 118/76, HR 68, BMI 24.1. Heart and lungs normal. Routine labs drawn.",
        assessment: "Healthy adult. Preventive care up to date except influenza vaccine.",
        plan: "Influenza vaccine given today. Review labs by portal message. Return in one year.",
        rx: None,
    },
    Scenario {
        reason: "Hypertension follow-up",
        subjective: "Home readings 140s/90s over the past month. Occasional morning headaches.",
        objective: "BP 146/94 (repeat 142/92), HR 74. No edema. Fundi not examined.",
        assessment: "Essential hypertension, not at goal.",
        plan: "Start lisinopril. Low-sodium diet handout. Basic metabolic panel in 2 weeks. Follow up in 6 weeks.",
        rx: Some(Rx {
            medication_name: "Lisinopril",
            dosage: "10 mg",
            route: "oral",
            frequency: "once daily",
            quantity: 90,
            refills: 3,
            instructions: "Take in the morning. Report dizziness or a persistent dry cough.",
        }),
    },
    Scenario {
        reason: "Sinus congestion and facial pain",
        subjective: "Ten days of nasal congestion, facial pressure and thick discharge, worse after improving.",
        objective: "T 37.9 °C. Maxillary sinus tenderness, purulent nasal discharge.",
        assessment: "Acute bacterial sinusitis.",
        plan: "Antibiotic course, saline irrigation, fluids. Return if not improving in 72 hours.",
        rx: Some(Rx {
            medication_name: "Amoxicillin",
            dosage: "500 mg",
            route: "oral",
            frequency: "three times daily",
            quantity: 21,
            refills: 0,
            instructions: "Take for 7 days and finish the course.",
        }),
    },
    Scenario {
        reason: "Type 2 diabetes follow-up",
        subjective: "Checking glucose most mornings, 130-160 mg/dL. Walking 20 minutes daily.",
        objective: "HbA1c 7.8 %. BP 128/80. Monofilament sensation intact.",
        assessment: "Type 2 diabetes mellitus, above target.",
        plan: "Start metformin, nutrition referral, repeat HbA1c in 3 months.",
        rx: Some(Rx {
            medication_name: "Metformin",
            dosage: "500 mg",
            route: "oral",
            frequency: "twice daily with meals",
            quantity: 180,
            refills: 2,
            instructions: "Take with breakfast and dinner to limit stomach upset.",
        }),
    },
    Scenario {
        reason: "Low back pain",
        subjective: "Lower back pain for 5 days after lifting boxes. No leg weakness or numbness.",
        objective: "Paraspinal tenderness L4-L5. Straight-leg raise negative. Strength 5/5.",
        assessment: "Acute mechanical low back pain without red flags.",
        plan: "Short NSAID course, heat, stay active, physical therapy exercises. Return if symptoms worsen.",
        rx: Some(Rx {
            medication_name: "Ibuprofen",
            dosage: "600 mg",
            route: "oral",
            frequency: "every 8 hours as needed",
            quantity: 30,
            refills: 0,
            instructions: "Take with food. No more than 3 tablets a day.",
        }),
    },
    Scenario {
        reason: "Seasonal allergies",
        subjective: "Sneezing, itchy eyes and runny nose every spring, worse outdoors.",
        objective: "Pale boggy nasal mucosa, mild conjunctival injection. Lungs clear.",
        assessment: "Seasonal allergic rhinitis.",
        plan: "Daily antihistamine during the season; consider nasal steroid if not controlled.",
        rx: Some(Rx {
            medication_name: "Cetirizine",
            dosage: "10 mg",
            route: "oral",
            frequency: "once daily",
            quantity: 30,
            refills: 5,
            instructions: "May cause drowsiness; take in the evening if so.",
        }),
    },
    Scenario {
        reason: "Anxiety check-in",
        subjective: "Feeling calmer since starting therapy; sleep improved. Still worried before work meetings.",
        objective: "Alert, good eye contact, mood 'better'. GAD-7 score 8 (was 14).",
        assessment: "Generalized anxiety disorder, improving.",
        plan: "Continue therapy and current medication. Follow up in 8 weeks.",
        rx: Some(Rx {
            medication_name: "Sertraline",
            dosage: "50 mg",
            route: "oral",
            frequency: "once daily",
            quantity: 30,
            refills: 2,
            instructions: "Do not stop suddenly.",
        }),
    },
    Scenario {
        reason: "Cholesterol results review",
        subjective: "Here to discuss lipid panel. Father had a heart attack at 58.",
        objective: "LDL 172 mg/dL, HDL 41 mg/dL. 10-year ASCVD risk 9.8 %.",
        assessment: "Hyperlipidemia with family history of premature coronary disease.",
        plan: "Start a statin, diet and exercise counselling, repeat lipids in 8 weeks.",
        rx: Some(Rx {
            medication_name: "Atorvastatin",
            dosage: "20 mg",
            route: "oral",
            frequency: "once daily at bedtime",
            quantity: 90,
            refills: 3,
            instructions: "Report unexplained muscle pain.",
        }),
    },
];

const PEDIATRICS: &[Scenario] = &[
    Scenario {
        reason: "Well-child visit",
        subjective: "Parent reports normal growth and development. Eating and sleeping well.",
        objective: "Height and weight on the 60th percentile. Normal exam. Vision and hearing screens passed.",
        assessment: "Healthy child, development appropriate for age.",
        plan: "Vaccines per schedule given today. Anticipatory guidance. Next visit in one year.",
        rx: None,
    },
    Scenario {
        reason: "Ear pain and fever",
        subjective: "Two days of right ear pain, fever to 38.6 °C, pulling at the ear.",
        objective: "Right tympanic membrane bulging and red. Left normal.",
        assessment: "Acute otitis media, right ear.",
        plan: "Antibiotic, acetaminophen for pain. Recheck if fever persists beyond 48 hours.",
        rx: Some(Rx {
            medication_name: "Amoxicillin oral suspension 400 mg/5 mL",
            dosage: "5 mL",
            route: "oral",
            frequency: "twice daily",
            quantity: 100,
            refills: 0,
            instructions: "Shake well. Give for 10 days. Keep refrigerated.",
        }),
    },
    Scenario {
        reason: "Asthma follow-up",
        subjective: "Wheezing twice this month with exercise. No night-time symptoms.",
        objective: "Lungs clear today. Peak flow 92 % of predicted.",
        assessment: "Mild intermittent asthma, exercise-induced.",
        plan: "Rescue inhaler before sports. Asthma action plan updated. Follow up in 3 months.",
        rx: Some(Rx {
            medication_name: "Albuterol HFA 90 mcg/actuation",
            dosage: "2 puffs",
            route: "inhalation",
            frequency: "every 4 to 6 hours as needed",
            quantity: 1,
            refills: 1,
            instructions: "Use with a spacer. 15 minutes before exercise.",
        }),
    },
    Scenario {
        reason: "Cough and runny nose",
        subjective: "Four days of cough and clear nasal discharge. Drinking well, low-grade fever once.",
        objective: "T 37.4 °C. Clear rhinorrhea, mild pharyngeal erythema. Lungs clear.",
        assessment: "Viral upper respiratory infection.",
        plan: "Supportive care: fluids, honey for cough (over age 1), saline drops. Return if breathing is hard.",
        rx: None,
    },
];

const DERMATOLOGY: &[Scenario] = &[
    Scenario {
        reason: "Acne follow-up",
        subjective: "Breakouts on the forehead and chin, some improvement with over-the-counter wash.",
        objective: "Open and closed comedones, scattered inflammatory papules. No scarring.",
        assessment: "Mild to moderate acne vulgaris.",
        plan: "Start topical retinoid at night, sunscreen daily. Review in 12 weeks.",
        rx: Some(Rx {
            medication_name: "Tretinoin 0.025% cream",
            dosage: "pea-sized amount",
            route: "topical",
            frequency: "once nightly",
            quantity: 1,
            refills: 2,
            instructions: "Apply to dry skin. Expect mild dryness in the first weeks.",
        }),
    },
    Scenario {
        reason: "Eczema flare",
        subjective: "Itchy rash in the elbow creases for 3 weeks, worse at night.",
        objective: "Erythematous lichenified plaques in both antecubital fossae. No infection.",
        assessment: "Atopic dermatitis flare.",
        plan: "Topical steroid for two weeks, thick emollient twice daily, fragrance-free products.",
        rx: Some(Rx {
            medication_name: "Triamcinolone 0.1% cream",
            dosage: "thin layer",
            route: "topical",
            frequency: "twice daily",
            quantity: 1,
            refills: 1,
            instructions: "Not on the face. Stop after 14 days.",
        }),
    },
    Scenario {
        reason: "Mole check",
        subjective: "Wants a full skin check; sister recently had a melanoma removed.",
        objective: "Full skin exam: 42 benign-appearing nevi. One 5 mm irregular nevus on the back, photographed.",
        assessment: "Multiple benign nevi; one atypical nevus under observation.",
        plan: "Photo comparison in 3 months. Monthly self-exams. Sun protection counselling.",
        rx: None,
    },
];
